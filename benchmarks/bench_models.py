"""generate_cams throughput vs a plain forward pass of the same FullModel, measured side by side.

Prints JSON. Usage: ``.venv/bin/python benchmarks/bench_models.py [--size 64] [--batch 64] [--repeats 5]``

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from hrcam.models import FullModel, HalfModel

    results = []
    for size in args.size:
        fm = FullModel(HalfModel(num_classes=10, input_shape=(size, size, 3)))
        x = np.random.default_rng(0).random((args.batch, size, size, 3), dtype=np.float32)
        xt = tf.constant(x)
        forward = tf.function(lambda t: fm.model(t, training=False))

        def run_forward():
            out = forward(xt)
            return out["probabilities"].numpy()

        def run_cams():
            return fm.generate_cams(x)

        for fn in (run_forward, run_cams):  # trace and warm up
            fn()
            fn()
        times = {"forward": [], "generate_cams": []}
        for _ in range(args.repeats):
            for name, fn in (("forward", run_forward), ("generate_cams", run_cams)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        results.append({
            "model": f"FullModel (paper DenseNet-FCN) {size}x{size}",
            "batch": args.batch,
            "forward_images_per_s": args.batch / med["forward"],
            "generate_cams_images_per_s": args.batch / med["generate_cams"],
            "ratio_generate_cams_to_forward": med["forward"] / med["generate_cams"],
        })
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
