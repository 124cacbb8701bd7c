"""Subprocess worker of tests/test_casm_training.py: a tiny CASM masker trained under MirroredStrategy over 2
logical CPUs (stopped after epoch 1 and resumed under the strategy) and on one device, on the same global
batches; the final weights of both go to OUT.npz (``m*`` mirrored, ``r*`` one device). Logical devices must
be configured before TensorFlow runs anything, hence a fresh process.

    python casm_distributed_worker.py RUN_DIR OUT.npz
"""

import functools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = [
    "classifier.path=null", "classifier.kind=half",
    "classifier.densenet={num_blocks: 2, layers_per_block: 1, growth_rate: 4, initial_filters: 8, "
    "cam_channels: 6}",
    "masker.channels=8", "data.source=synthetic", "data.image_size=32", "data.num_classes=3",
    "data.train_size=32", "data.val_size=16", "data.test_size=16", "data.batch_size=16",
    "data.augment=false", "reproduce=null", "train.epochs=2", "train.checkpoint_every=100",
    "train.hp=0.5", "train.smf=1", "train.f_size=2", "train.seed=0", "train.example_images=2",
]  # fmt: skip


def train(strategy: str, run_dir: Path, stop_after: int | None = None) -> dict:
    """``train_casm`` on a fixed-order training set (a shuffled one may be re-seeded when a strategy
    rewrites it)."""
    from hrcam.casm.config import load_casm_config
    from hrcam.casm.training import train_casm
    from hrcam.data.pipeline import from_arrays
    from hrcam.data.synthetic import make_scenes
    from hrcam.training.datasets import load_data

    cfg = load_casm_config("casm-synthetic", TINY + [f"run_dir={run_dir}", f"train.strategy={strategy}"])
    data = load_data(cfg.data)
    scenes = make_scenes(32, seed=0, image_size=32, num_classes=3)
    data.train = from_arrays(scenes.images, scenes.labels, 16)
    return train_casm(cfg, verbose=0, data=data, stop_after_epochs=stop_after)


def weights(run_dir: Path) -> list:
    import numpy as np

    from hrcam.casm.masker import load_masker

    return [np.asarray(w) for w in load_masker(run_dir / "casm" / "last.keras").get_weights()]


def main() -> int:
    run_dir, out = Path(sys.argv[1]), sys.argv[2]
    import numpy as np

    import hrcam.training.strategy as strategies
    from hrcam.training.strategy import make_strategy, split_cpu

    split_cpu(2)
    # the one-device run uses the replicas' BatchNorm formula (synchronised moments, one pass)
    strategies.prepare_for_training = functools.partial(strategies.prepare_for_training, sync_bn=True)
    assert make_strategy("mirrored").num_replicas_in_sync == 2
    first = train("mirrored", run_dir / "mirrored", stop_after=1)  # interrupted after epoch 1
    resumed = train("mirrored", run_dir / "mirrored")  # resumed under the strategy
    reference = train("default", run_dir / "default")
    arrays = {f"m{i}": w for i, w in enumerate(weights(run_dir / "mirrored"))}
    arrays.update({f"r{i}": w for i, w in enumerate(weights(run_dir / "default"))})
    np.savez(out, **arrays)
    keys = ("epochs_trained", "steps", "classifier_steps", "pool_size", "pool_stored", "replicas")
    print(json.dumps({name: {k: s[k] for k in keys} for name, s in
                      (("first", first), ("resumed", resumed), ("reference", reference))}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
