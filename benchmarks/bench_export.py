"""Serving cost of the saliency heads: reloaded SavedModels, side by side with the bare classifier's export.

    .venv/bin/python benchmarks/bench_export.py          # paper network at 224x224, JSON on stdout
    .venv/bin/python benchmarks/bench_export.py --size 128 --repeats 5 --latency-calls 20

Each variant is exported with ``hrcam.export.export_saved_model`` into a temporary BASE, reloaded with
``tf.saved_model.load`` (a fresh object, as a server holds it) and called through its signature with float32
images at the model's size:

* ``bare``: the classifier alone (``heads=()``: probabilities and top-k), the baseline;
* ``keras_raw``: ``model(x)`` exported with ``keras.export.ExportArchive`` and no request checks (the cost of
  hrcam's in-graph checks and resizing is ``bare`` vs ``keras_raw``);
* ``full_forward_raw``: the FullModel's own forward pass (probabilities and reconstruction, encoder and
  expansion path), exported the same way: what any use of the FullModel costs, the reference for HR-CAM;
* ``half_cam`` (CAM head), ``half_cam_gradcam`` (CAM + Grad-CAM, one forward pass), ``full_hr`` (FullModel,
  CAM + HR-CAM), ``full_all`` (FullModel, CAM + HR-CAM + Grad-CAM) through ``serving_default``;
* ``explain`` variants: the ``explain`` signature with an explicit class per image.

Latency: batch 1, ``--latency-calls`` calls per round; throughput: batch ``--batch`` (32), one call per round.
Rounds are interleaved over all variants (``--repeats`` rounds) so that load on a shared machine hits every
variant alike. ``slowdown`` = variant time / bare time, from the best (least disturbed) round; ``*_median``
from medians; ``*_cpu`` from process CPU time (all threads), which other processes disturb less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGETS = {  # issue: serving_default with CAM / high-res heads <= 1.1x, Grad-CAM <= 1.5x, explain <= 1.5x
    "half_cam": 1.1,
    "full_hr": 1.1,
    "half_cam_gradcam": 1.5,
    "full_all": 1.5,
    "explain_half": 1.5,
    "explain_full": 1.5,
}


def _export_all(base: str, size: int, classes: int) -> dict[str, tuple[str, str]]:
    """Export every variant; returns ``name -> (version directory, signature)``."""
    import keras
    import tensorflow as tf

    from hrcam.export import export_saved_model
    from hrcam.models import FullModel, HalfModel

    keras.utils.set_random_seed(0)
    hm = HalfModel(num_classes=classes, input_shape=(size, size, 3))
    fm = FullModel(half_model=hm)
    common = {"warmup": False, "verify": False, "model_config": False}
    paths = {}
    t0 = time.perf_counter()
    paths["bare"] = export_saved_model(hm, base, "bare", heads=(), **common).path
    paths["half_cam"] = export_saved_model(hm, base, "half_cam", heads=("cam",), **common).path
    paths["half_cam_gradcam"] = export_saved_model(
        hm, base, "half_cam_gradcam", heads=("cam", "gradcam"), **common
    ).path
    paths["full_hr"] = export_saved_model(fm, base, "full_hr", heads=("cam", "high_res_cam"), **common).path
    paths["full_all"] = export_saved_model(fm, base, "full_all", **common).path
    export_s = time.perf_counter() - t0
    archive = keras.export.ExportArchive()
    archive.track(hm.model)
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probabilities": hm.model(images, training=False)},
        input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="images")],
    )
    raw = os.path.join(base, "keras_raw", "1")
    archive.write_out(raw, verbose=False)
    archive = keras.export.ExportArchive()
    archive.track(fm.model)
    archive.add_endpoint(
        "serving_default",
        lambda images: fm.model(images, training=False),
        input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="images")],
    )
    full_raw = os.path.join(base, "full_forward_raw", "1")
    archive.write_out(full_raw, verbose=False)
    variants = {name: (str(p), "serving_default") for name, p in paths.items()}
    variants["keras_raw"] = (raw, "serving_default")
    variants["full_forward_raw"] = (full_raw, "serving_default")
    variants["explain_half"] = (str(paths["half_cam_gradcam"]), "explain")
    variants["explain_full"] = (str(paths["full_all"]), "explain")
    return variants, export_s


def _timed(fn, inputs: dict[str, Any], calls: int) -> tuple[float, float]:
    """(wall seconds per call, process CPU seconds per call) over ``calls`` calls."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        out = fn(**inputs)
        for v in out.values():
            v.numpy()
    return (time.perf_counter() - w0) / calls, (time.process_time() - c0) / calls


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224, help="model input size (multiple of 32)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32, help="throughput batch size")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--latency-calls", type=int, default=10, help="batch-1 calls per round")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="hrcam-bench-export-") as base:
        variants, export_s = _export_all(base, args.size, args.classes)
        t0 = time.perf_counter()
        fns = {name: tf.saved_model.load(path).signatures[sig] for name, (path, sig) in variants.items()}
        load_s = time.perf_counter() - t0
        x1 = rng.random((1, args.size, args.size, 3), dtype=np.float32)
        xb = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)

        def inputs(name: str, x: np.ndarray) -> dict[str, Any]:
            d = {"images": tf.constant(x)}
            if name.startswith("explain"):
                d["class_index"] = tf.constant(rng.integers(0, args.classes, len(x)), tf.int32)
            return d

        in1 = {n: inputs(n, x1) for n in fns}
        inb = {n: inputs(n, xb) for n in fns}
        first_call = {}
        for (
            name,
            fn,
        ) in fns.items():  # first calls (graph optimisation), then one warm call at each batch size
            t = time.perf_counter()
            _timed(fn, in1[name], 1)
            first_call[name] = time.perf_counter() - t
            _timed(fn, inb[name], 1)
        lat: dict[str, list[tuple[float, float]]] = {n: [] for n in fns}
        thr: dict[str, list[tuple[float, float]]] = {n: [] for n in fns}
        for r in range(args.repeats):
            order = list(fns) if r % 2 == 0 else list(fns)[::-1]
            for name in order:
                lat[name].append(_timed(fns[name], in1[name], args.latency_calls))
                thr[name].append(_timed(fns[name], inb[name], 1))

    def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
        wall = [s[0] for s in samples]
        cpu = [s[1] for s in samples]
        return {"best_s": min(wall), "median_s": statistics.median(wall), "best_cpu_s": min(cpu)}

    results: dict[str, Any] = {}
    base_lat, base_thr = summary(lat["bare"]), summary(thr["bare"])
    for name in fns:
        sl, st = summary(lat[name]), summary(thr[name])
        entry = {
            "signature": variants[name][1],
            "latency_b1_ms": round(1000 * sl["best_s"], 2),
            "latency_b1_median_ms": round(1000 * sl["median_s"], 2),
            f"throughput_b{args.batch}_img_s": round(args.batch / st["best_s"], 1),
            "slowdown_b1": round(sl["best_s"] / base_lat["best_s"], 3),
            "slowdown_b1_median": round(sl["median_s"] / base_lat["median_s"], 3),
            "slowdown_b1_cpu": round(sl["best_cpu_s"] / base_lat["best_cpu_s"], 3),
            f"slowdown_b{args.batch}": round(st["best_s"] / base_thr["best_s"], 3),
            f"slowdown_b{args.batch}_median": round(st["median_s"] / base_thr["median_s"], 3),
            f"slowdown_b{args.batch}_cpu": round(st["best_cpu_s"] / base_thr["best_cpu_s"], 3),
            "first_call_s": round(first_call[name], 2),
        }
        if name.startswith("full") or name == "explain_full":
            ref = summary(thr["full_forward_raw"])
            entry[f"vs_full_forward_b{args.batch}"] = round(st["best_s"] / ref["best_s"], 3)
            entry["vs_full_forward_b1"] = round(sl["best_s"] / summary(lat["full_forward_raw"])["best_s"], 3)
        if name in TARGETS:
            entry["target_max_slowdown"] = TARGETS[name]
            entry["meets_target"] = bool(
                entry["slowdown_b1"] <= TARGETS[name] and entry[f"slowdown_b{args.batch}"] <= TARGETS[name]
            )
        results[name] = entry
    report = {
        "benchmark": "bench_export",
        "model": f"HR-CAM DenseNet-FCN (paper configuration), {args.size}x{args.size}x3, "
        f"{args.classes} classes",
        "baseline": "bare: export_saved_model(heads=()) of the same classifier (probabilities + top-k)",
        "batch": args.batch,
        "repeats": args.repeats,
        "latency_calls_per_round": args.latency_calls,
        "export_s_all_variants": round(export_s, 1),
        "load_s_all_variants": round(load_s, 1),
        "results": results,
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "tensorflow": tf.__version__,
            "cpus": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return report


if __name__ == "__main__":
    main()
