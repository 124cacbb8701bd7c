"""generate_cams throughput vs a plain forward pass of the same FullModel, measured side by side.

Prints JSON. Usage: ``.venv/bin/python scripts/bench_models.py [--size 64] [--batch 64] [--repeats 5]``

Both sides run a compiled ``tf.function``; the forward pass is ``fm.model(x)`` (probabilities and
reconstruction), the CAM side is the public ``fm.generate_cams(x)`` (input checks, high-res and low-res
CAMs of the predicted class, normalisation, NumPy out). Rounds alternate between the two so that machine
noise hits both alike; the ratio of the medians is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(size: int, batch: int, repeats: int) -> dict:
    """Median times of the forward pass and of generate_cams, interleaved, for one input size."""
    import numpy as np
    import tensorflow as tf

    from hrcam.models import FullModel, HalfModel

    fm = FullModel(HalfModel(num_classes=10, input_shape=(size, size, 3)))
    x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    xt = tf.constant(x)
    forward = tf.function(lambda t: fm.model(t, training=False))
    runs = {
        "forward": lambda: forward(xt)["probabilities"].numpy(),
        "generate_cams": lambda: fm.generate_cams(x),
    }
    for fn in runs.values():  # trace and warm up
        fn()
        fn()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "model": f"FullModel (paper DenseNet-FCN) {size}x{size}",
        "batch": batch,
        "forward_images_per_s": batch / med["forward"],
        "generate_cams_images_per_s": batch / med["generate_cams"],
        "ratio_generate_cams_to_forward": med["forward"] / med["generate_cams"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import tensorflow as tf

    results = [measure(size, args.batch, args.repeats) for size in args.size]

    machine = f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}"
    print(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
