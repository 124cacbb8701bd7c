"""Train a small MobileNetV2-style classifier on synthetic scenes, for the COSE / faithfulness benchmarks.

    PYTHONPATH=$PWD .venv/bin/python scripts/train_mobilenetv2_synthetic.py --out runs/i13/mobilenetv2.keras

The model is ``keras.applications.MobileNetV2(weights=None, include_top=False, alpha=0.35)`` followed by
``GlobalAveragePooling2D`` -> ``Dense(logits)`` -> ``Softmax`` (so CAM applies), trained from scratch with
Adam on :func:`hrcam.data.make_scenes` scenes (train seed 0, validation seed 1; the benchmarks evaluate on
seed 2). Epochs listed in ``--checkpoints`` are also saved (``<out>_epoch<N>.keras``), for COSE's
mid-training-checkpoint perturbation. Saves the epoch with the best validation accuracy (``.keras``,
atomically) and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(image_size: int, num_classes: int, alpha: float, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(inp)
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=alpha, include_top=False, weights=None
    )
    for layer in backbone.layers:  # Keras' 0.999 needs thousands of steps; a short run needs faster stats
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    out = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inp, out, name="mobilenetv2_synthetic")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--alpha", type=float, default=0.35)
    ap.add_argument("--train", type=int, default=2500)
    ap.add_argument("--val", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--checkpoints", type=int, nargs="*", default=[3], help="also save these epochs (model perturbations)"
    )
    args = ap.parse_args()

    import keras
    import numpy as np

    from hrcam.data.scenes import make_scenes
    from hrcam.io import atomic_path

    t0 = time.time()
    tr = make_scenes(args.train, image_size=args.image_size, num_classes=args.classes, seed=0)
    va = make_scenes(args.val, image_size=args.image_size, num_classes=args.classes, seed=1)
    xtr, ytr = tr.images.astype(np.float32) / 255.0, tr.labels
    xva, yva = va.images.astype(np.float32) / 255.0, va.labels
    model = build(args.image_size, args.classes, args.alpha)
    model.compile(keras.optimizers.Adam(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    best, history = -1.0, []
    for epoch in range(args.epochs):
        h = model.fit(xtr, ytr, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True)
        acc = float(np.mean(np.argmax(model.predict(xva, verbose=0), -1) == yva))
        history.append({"epoch": epoch + 1, "loss": float(h.history["loss"][-1]), "val_accuracy": acc})
        print(json.dumps(history[-1]), flush=True)
        if epoch + 1 in args.checkpoints:
            with atomic_path(args.out.replace(".keras", f"_epoch{epoch + 1}.keras")) as tmp:
                model.save(tmp)
        if acc > best:
            best = acc
            with atomic_path(args.out) as tmp:
                model.save(tmp)
    print(
        json.dumps(
            {
                "out": args.out,
                "best_val_accuracy": best,
                "seconds": time.time() - t0,
                "history": history,
                "args": vars(args),
            }
        )
    )


if __name__ == "__main__":
    main()
