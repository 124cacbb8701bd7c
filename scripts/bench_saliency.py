"""Throughput of every saliency method relative to the same model's plain forward pass, side by side.

    .venv/bin/python scripts/bench_saliency.py                   # both models, JSON on stdout
    .venv/bin/python scripts/bench_saliency.py --models half --repeats 5

For each model, a batch of ``--batch`` random images goes through a ``tf.function`` forward pass
(``model(x, training=False)``, no XLA) and through each method's public call (NumPy in, NumPy out, maps
up-sampled and normalised). Each method's timing is interleaved with a forward timing, ``--repeats`` times;
``ratio`` is best forward time / best method time (the least disturbed runs, as ``timeit`` does) and
``ratio_median`` the ratio of the medians, ``ratio_paired`` the median of the per-pair ratios (each forward
timed right before the method), ``ratio_cpu`` the ratio of the best process CPU times (all threads; less
sensitive to other processes on a shared machine). Threshold
checks (from the issue) use ``ratio``: CAM/Grad-CAM >= 0.9x, Grad-CAM with k=5 classes per image >= 0.7x,
gradients / guided backprop / guided Grad-CAM >= 0.3x, SmoothGrad and Integrated Gradients with n samples
>= 0.3x/n.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_models(names: list[str]) -> dict[str, tuple[Any, tuple[int, int, int]]]:
    import keras

    models = {}
    for name in names:
        keras.utils.set_random_seed(0)
        if name == "half":
            from hrcam.models import HalfModel

            half = HalfModel(num_classes=10, input_shape=(96, 96, 3)).model
            models["HalfModel 96x96"] = (half, (96, 96, 3))
        elif name == "mobilenetv2":
            models["MobileNetV2 224x224"] = (keras.applications.MobileNetV2(weights=None), (224, 224, 3))
        else:
            raise SystemExit(f"unknown model {name!r}; use half, mobilenetv2")
    return models


def method_specs(n_samples: int) -> list[dict[str, Any]]:
    """(label, method name, constructor kwargs, targets kind, required ratio)."""
    n = n_samples
    return [
        {"label": "CAM", "method": "CAM", "kwargs": {}, "k": None, "min": 0.9},
        {"label": "GradCAM", "method": "GradCAM", "kwargs": {}, "k": None, "min": 0.9},
        {"label": "GradCAM k=5", "method": "GradCAM", "kwargs": {}, "k": 5, "min": 0.7},
        {"label": "GradCAM++", "method": "GradCAMPlusPlus", "kwargs": {}, "k": None, "min": None},
        {"label": "LayerCAM", "method": "LayerCAM", "kwargs": {}, "k": None, "min": None},
        {"label": "Gradients", "method": "Gradients", "kwargs": {}, "k": None, "min": 0.3},
        {"label": "GuidedBackprop", "method": "GuidedBackprop", "kwargs": {}, "k": None, "min": 0.3},
        {"label": "GuidedGradCAM", "method": "GuidedGradCAM", "kwargs": {}, "k": None, "min": 0.3},
        {"label": f"SmoothGrad n={n}", "method": "SmoothGrad", "kwargs": {"n_samples": n, "seed": 0},
         "k": None, "min": 0.3 / n},
        {"label": f"IntegratedGradients n={n}", "method": "IntegratedGradients", "kwargs": {"steps": n},
         "k": None, "min": 0.3 / n},
    ]  # fmt: skip


def bench_model(name: str, model: Any, shape: tuple, batch: int, repeats: int, specs: list[dict]) -> dict:
    import numpy as np
    import tensorflow as tf

    from hrcam.saliency import saliency

    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    xt = tf.constant(x)
    forward = tf.function(lambda v: model(v, training=False))

    def time_forward() -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        forward(xt).numpy()
        return time.perf_counter() - t, time.process_time() - c

    time_forward()  # trace
    num_classes = int(model.outputs[0].shape[-1])
    rows = []
    for spec in specs:
        explainer = saliency(model, spec["method"], batch_size=batch, **spec["kwargs"])
        targets = None
        if spec["k"]:
            targets = np.stack([rng.permutation(num_classes)[: spec["k"]] for _ in range(batch)])

        def time_method(explainer=explainer, targets=targets) -> tuple[float, float]:
            t, c = time.perf_counter(), time.process_time()
            explainer(x, target_class=targets)
            return time.perf_counter() - t, time.process_time() - c

        time_method()  # trace
        fwd, meth = [], []
        for _ in range(repeats):
            fwd.append(time_forward())
            meth.append(time_method())
        f, m = min(w for w, _ in fwd), min(w for w, _ in meth)
        ratio = f / m
        ratio_median = statistics.median(w for w, _ in fwd) / statistics.median(w for w, _ in meth)
        ratio_cpu = min(c for _, c in fwd) / min(c for _, c in meth)
        ratio_paired = statistics.median(a / b for (a, _), (b, _) in zip(fwd, meth, strict=True))
        row = {
            "method": spec["label"],
            "layer": explainer.layer_name,
            "forward_s": round(f, 4),
            "method_s": round(m, 4),
            "forward_img_per_s": round(batch / f, 1),
            "method_img_per_s": round(batch / m, 1),
            "ratio": round(ratio, 3),
            "ratio_median": round(ratio_median, 3),
            "ratio_cpu": round(ratio_cpu, 3),
            "ratio_paired": round(ratio_paired, 3),
            "required": None if spec["min"] is None else round(spec["min"], 4),
            "ok": None if spec["min"] is None else bool(ratio >= spec["min"]),
        }
        rows.append(row)
        line = f"  {name:20s} {row['method']:26s} {ratio:6.3f}x cpu {ratio_cpu:6.3f}x ({f:.3f}s/{m:.3f}s)"
        print(line, file=sys.stderr, flush=True)
        del explainer
    return {"model": name, "params": int(model.count_params()), "batch": batch, "results": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["half", "mobilenetv2"], help="half, mobilenetv2")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=4, help="n for SmoothGrad and Integrated Gradients")
    parser.add_argument("--methods", nargs="*", default=None, help="subset of method labels to run")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    specs = method_specs(args.samples)
    if args.methods:
        specs = [s for s in specs if s["label"] in args.methods or s["method"] in args.methods]
    report = {
        "benchmark": "saliency throughput / forward throughput",
        "command": " ".join(
            ["python scripts/bench_saliency.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": {
            "nproc": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "xla": False,
        },
        "models": [],
    }
    for name, (model, shape) in build_models(args.models).items():
        report["models"].append(bench_model(name, model, shape, args.batch, args.repeats, specs))
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    failed = [(m["model"], r["method"]) for m in report["models"] for r in m["results"] if r["ok"] is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
