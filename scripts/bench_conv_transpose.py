"""How efficiently TF's CPU kernels run the expansion path's stride-2 transposed convolutions.

    .venv/bin/python scripts/bench_conv_transpose.py     # JSON on stdout

For the two largest transposed convolutions of the paper's FullModel at 224 x 224 (``tr_up_early``:
112 x 112 x 240 -> 224 x 224 x 16; ``tr_up3``: 56 x 56 x 64 -> 112 x 112 x 64), times the layer next to a
plain 3x3 convolution at the input resolution with the same multiply-accumulates (``Cin -> Cout``,
stride 1), and next to a sub-pixel rewrite (a 2x2 convolution to ``4 * Cout`` channels, then
``depth_to_space``: 16/9 of the MACs). Median of ``--repeats`` timings of ``--calls`` calls, each variant a
``tf.function``, batch 1 and 8.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHAPES = {"tr_up_early": (112, 240, 16), "tr_up3": (56, 64, 64)}  # input size, Cin, Cout


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    def timed(fn, x) -> float:
        fn(x)
        fn(x)
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(args.calls):
                fn(x).numpy()
            times.append((time.perf_counter() - t) / args.calls)
        return statistics.median(times) * 1000

    results = {}
    for name, (size, cin, cout) in SHAPES.items():
        transposed = keras.layers.Conv2DTranspose(cout, 3, strides=2, padding="same", activation="relu")
        plain = keras.layers.Conv2D(cout, 3, padding="same", activation="relu")
        subpixel = keras.layers.Conv2D(4 * cout, 2, padding="same", activation="relu")
        fns = {
            "transposed_ms": tf.function(transposed),
            "plain_same_macs_ms": tf.function(plain),
            "subpixel_ms": tf.function(lambda v, layer=subpixel: tf.nn.depth_to_space(layer(v), 2)),
        }
        for batch in (1, 8):
            x = tf.random.uniform((batch, size, size, cin))
            row = {k: round(timed(f, x), 2) for k, f in fns.items()}
            row["transposed_vs_plain"] = round(row["transposed_ms"] / row["plain_same_macs_ms"], 2)
            results[f"{name}_b{batch}"] = row
    report = {"benchmark": "bench_conv_transpose", "tensorflow": tf.__version__, "results": results}
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return report


if __name__ == "__main__":
    main()
