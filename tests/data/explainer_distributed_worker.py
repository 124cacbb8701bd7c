"""Subprocess worker of tests/test_explainer_distribute.py: train a tiny Explainer under MirroredStrategy over
2 logical CPU devices, then on one device on the same global batches, and save both runs' initial and final
weights (logical devices must be configured before TensorFlow runs anything, hence a fresh process).

    python explainer_distributed_worker.py RUN_DIR OUT.npz
"""

import functools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def train(strategy_name: str, root: Path, clf_path: Path, data):
    import keras
    import numpy as np

    import hrcam.training.strategy as strategy
    from hrcam.data.pipeline import from_arrays
    from hrcam.explainer.config import load_explainer_config
    from hrcam.explainer.training import train_explainer

    cfg = load_explainer_config(
        "explainer-synthetic",
        [
            "data.image_size=32",
            "data.num_classes=3",
            "data.batch_size=8",
            "explainer.channels=8",
            "explainer.rates=[1, 2]",
            "explainer.decoder_stride=2",  # the preset's DeepLabv3+ decoder (features at stride 4 here)
            "explainer.dropout=0.0",  # dropout's random draws differ between one and two replicas
            "train.epochs=1",
            "train.steps_per_epoch=3",
            "train.learning_rate=0.1",
            "train.checkpoint_every=1",
            f"train.strategy={strategy_name}",
        ],
    )
    import hrcam.explainer.training as trainer_module

    build = trainer_module.build_explainer

    initial = []

    def seeded_build(*args, **kwargs):  # the same initial weights, whatever drew random numbers before
        keras.utils.set_random_seed(1)  # (the replicas' run reloads the classifier in the strategy's scope)
        model = build(*args, **kwargs)
        initial[:] = [np.asarray(w) for w in model.get_weights()]
        return model

    # SGD, not the trainer's Adam: Adam's step is invariant to the loss scale (a wrong division by the
    # number of replicas would go unseen) and turns the rounding noise of gradients that are ~0 in exact
    # arithmetic (biases before a BatchNormalization) into full +-lr steps.
    adam = keras.optimizers.Adam
    keras.optimizers.Adam = keras.optimizers.SGD
    trainer_module.build_explainer = seeded_build
    real = strategy.prepare_for_training
    if strategy_name == "default":  # the replicas' BatchNorm moments formula (synchronised, one pass)
        strategy.prepare_for_training = functools.partial(real, sync_bn=True)
    images, labels = data
    keras.utils.set_random_seed(0)
    train_ds = from_arrays(images, labels, 8)  # not shuffled: the same global batches in both runs
    val_ds = from_arrays(images[:8], labels[:8], 8)
    classifier = keras.saving.load_model(clf_path)
    example = (images[:4].astype("float32") / 255.0, labels[:4].astype("float32"))
    try:
        _, history = train_explainer(cfg, classifier, root, train_ds, val_ds, example, verbose=0)
    finally:
        strategy.prepare_for_training = real
        trainer_module.build_explainer = build
        keras.optimizers.Adam = adam
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"]).all()
    last = keras.saving.load_model(root / "explainer" / "last.keras")
    return [np.asarray(w) for w in last.get_weights()], initial


def main() -> int:
    run_dir, out = Path(sys.argv[1]), sys.argv[2]
    from hrcam.training.strategy import make_strategy, split_cpu

    split_cpu(2)
    assert make_strategy("mirrored").num_replicas_in_sync == 2
    import keras
    import numpy as np

    from hrcam.explainer.classifier import build_classifier
    from hrcam.highres.densenet_fcn import DenseNetFCNConfig

    keras.utils.set_random_seed(0)
    tiny = DenseNetFCNConfig(
        num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, weight_decay=0.0
    )
    clf = build_classifier("densenet_fcn", 3, (32, 32, 3), densenet=tiny)
    run_dir.mkdir(parents=True, exist_ok=True)
    clf.save(run_dir / "classifier.keras")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    labels = (rng.uniform(size=(24, 3)) < 0.5).astype(np.int32)
    labels[labels.sum(1) == 0, 0] = 1
    w, init = train("mirrored", run_dir / "mirrored", run_dir / "classifier.keras", (images, labels))
    r, init_r = train("default", run_dir / "reference", run_dir / "classifier.keras", (images, labels))
    arrays = {f"w{i}": a for i, a in enumerate(w)} | {f"r{i}": a for i, a in enumerate(r)}
    arrays |= {f"i{i}": a for i, a in enumerate(init)} | {f"j{i}": a for i, a in enumerate(init_r)}
    np.savez(out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
