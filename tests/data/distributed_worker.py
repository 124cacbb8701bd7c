"""Subprocess worker of tests/test_distribute.py: train a tiny HalfModel under a strategy (and on one device
on the same global batches) and save the final weights. Logical devices / collective ops must be set up
before TensorFlow runs anything, hence a fresh process per run.

    python distributed_worker.py mirrored RUN_DIR OUT.npz [--kill-after-batches N]
    TF_CONFIG=... python distributed_worker.py multiworker RUN_DIR OUT.npz
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = {
    "data": {"source": "synthetic", "image_size": 32, "num_classes": 3, "train_size": 64, "val_size": 16,
             "test_size": 16, "batch_size": 16, "augment": False, "cache": False},
    "model": {"num_blocks": 2, "layers_per_block": 2, "growth_rate": 4, "initial_filters": 8,
              "cam_channels": 6},
    "half": {"epochs": 2, "checkpoint_every": 1, "optimizer": "sgd", "learning_rate": 0.05},
}  # fmt: skip


def train(strategy_name: str, run_dir: str, kill_after: int | None = None, checkpoint_every: int = 1):
    import keras
    import numpy as np

    from hrcam.config import Config
    from hrcam.highres.training import train_half
    from hrcam.training.datasets import load_data
    from hrcam.training.runner import RunPaths

    config = Config.from_dict({**TINY, "run_dir": run_dir})
    config.half.strategy = strategy_name
    config.half.checkpoint_every = checkpoint_every
    if strategy_name == "default":  # the same BatchNorm moments formula as the replicas (one pass, summed)
        import functools

        import hrcam.training.strategy as strategy

        strategy.prepare_for_training = functools.partial(strategy.prepare_for_training, sync_bn=True)
    keras.utils.set_random_seed(0)  # the shuffle of the dataset and the initial weights
    data = load_data(config.data)
    # The same global batches in every run: the training images in a fixed order (a shuffled dataset may be
    # re-seeded when a strategy rewrites it for distribution).
    from hrcam.data.pipeline import from_arrays
    from hrcam.data.synthetic import make_scenes

    scenes = make_scenes(64, seed=0, image_size=32, num_classes=3)
    data.train = from_arrays(scenes.images, scenes.labels, 16)
    if kill_after:
        import hrcam.highres.training as stage_trainer

        class Kill(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.n = 0

            def on_train_batch_end(self, batch, logs=None):
                self.n += 1
                if self.n == kill_after:
                    os._exit(9)  # as a SIGKILL: no cleanup, the state saved so far is all there is

        real = stage_trainer.run_callbacks  # what train_half builds its callbacks with

        def with_kill(*a, **k):
            cbs, state = real(*a, **k)
            return cbs + [Kill()], state

        stage_trainer.run_callbacks = with_kill
    train_half(config, data.train, data.val, data.num_classes, verbose=0)
    from hrcam.models import load_model

    model = load_model(RunPaths(Path(config.run_dir)).last("half"))
    return [np.asarray(w) for w in model.get_weights()]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["mirrored", "multiworker", "default"])
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--kill-after-batches", type=int)
    p.add_argument("--checkpoint-every", type=int, default=1)
    args = p.parse_args()
    import numpy as np

    from hrcam.training.strategy import make_strategy, split_cpu

    if args.mode == "mirrored":
        split_cpu(2)
        assert make_strategy("mirrored").num_replicas_in_sync == 2
    elif args.mode == "multiworker":
        strategy = make_strategy("multiworker")
        assert strategy.num_replicas_in_sync == 2
    weights = train(
        args.mode, os.path.join(args.run_dir, args.mode), args.kill_after_batches, args.checkpoint_every
    )
    out = {f"w{i}": w for i, w in enumerate(weights)}
    chief = args.mode != "multiworker" or json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0
    if chief and args.mode != "default" and not args.kill_after_batches:
        ref = train("default", os.path.join(args.run_dir, "reference"))
        out.update({f"r{i}": w for i, w in enumerate(ref)})
    np.savez(args.out, **out)
    done = os.path.join(args.run_dir, "chief.done")
    if chief:
        open(done, "w").close()
    else:  # stay up until the chief has finished: the cluster's coordination service stops on a lost task
        import time

        deadline = time.time() + 600
        while not os.path.exists(done) and time.time() < deadline:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
