"""CASM benchmarks (issue 11); prints JSON.

* ``python scripts/bench_casm.py resnets OUT_DIR``: small torchvision-layout ResNets on synthetic scenes;
* ``python scripts/bench_casm.py cost M.keras``: masker inference cost / classifier forward (batch 64).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def resnets(out: str, seeds=(1, 2), epochs: int = 20, n: int = 1500) -> dict:
    import keras
    import numpy as np

    from hrcam.casm.resnet import build_resnet
    from hrcam.data.synthetic import make_scenes

    result = {}
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        train = make_scenes(n, image_size=64, num_classes=6, seed=100 + seed)
        val = make_scenes(200, image_size=64, num_classes=6, seed=200 + seed)
        model = build_resnet(6, (64, 64, 3), widths=(16, 32, 64, 128), stem=16, name=f"resnet_s{seed}")
        model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(
            train.images / np.float32(255), np.asarray(train.labels), batch_size=32, epochs=epochs, verbose=0
        )
        seconds = time.perf_counter() - start
        acc = model.evaluate(
            val.images / np.float32(255), np.asarray(val.labels), verbose=0, return_dict=True
        )
        path = Path(out) / f"resnet-s{seed}.keras"
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        result[str(path)] = {"val_accuracy": acc["accuracy"], "train_seconds": round(seconds, 1)}
    return result


def cost(masker_path: str, batch: int = 64, repeats: int = 10) -> dict:
    import numpy as np
    import tensorflow as tf

    from hrcam.casm.masker import load_masker

    m = load_masker(masker_path)
    x = tf.constant(np.random.default_rng(0).random((batch, *m.image_shape), dtype=np.float32))
    clf = tf.function(lambda x: m.classifier(x, training=False))
    full = tf.function(lambda x: m(x, training=False)["mask"])

    def best(fn):
        fn(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x).numpy()
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    tc, tm = best(clf), best(full)
    return {
        "batch": batch,
        "classifier_s": tc,
        "masker_s": tm,
        "ratio": tm / tc,
        "load": open("/proc/loadavg").read().split()[:3],
    }


if __name__ == "__main__":
    cmd, arg = sys.argv[1], sys.argv[2]
    print(json.dumps(resnets(arg) if cmd == "resnets" else cost(arg), indent=2))
