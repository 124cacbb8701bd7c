"""Serving cost of the saliency heads: reloaded SavedModels, side by side with the bare classifier's export.

    .venv/bin/python scripts/bench_export.py          # paper network at 224x224, JSON on stdout
    .venv/bin/python scripts/bench_export.py --size 128 --repeats 5 --latency-calls 20

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

Latency: batch 1, ``--latency-calls`` calls per measurement; throughput: batch ``--batch`` (32), one call per
measurement. Every variant is measured right next to its reference (``bare``; for FullModel variants also
``full_forward_raw``), in alternating order, ``--repeats`` times, so that load on a shared machine hits both
sides of each ratio alike. ``slowdown_*`` = median over the pairs of variant time / bare time
(``*_range``: the smallest and largest pair), ``*_cpu`` the same with process CPU time (all threads),
which other processes disturb less; ``vs_full_forward_*`` the same against the FullModel's own forward pass.
Absolute figures are medians (``*_best``: the least disturbed measurement). ``arithmetic`` gives the
multiply-accumulates per image of the classifier and of the classifier plus the FullModel's expansion path
(what the high-resolution CAM needs): the lower bound on what any export of each can cost.
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
    return variants, export_s, _arithmetic(hm, fm)


def multiply_accumulates(model) -> int:
    """Multiply-accumulates per image of a functional Keras model's convolutions and Dense layers.

    The arithmetic a perfect implementation cannot avoid; the element-wise layers (batch norm, ReLU,
    concatenation, pooling) are left out, so this is a lower bound on the work.
    """
    import keras
    import numpy as np

    kinds = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
    counted = (keras.layers.Dense, keras.layers.DepthwiseConv2D) + tuple(
        getattr(keras.layers, k) for k in kinds
    )
    total = 0
    for layer in model.layers:
        if not isinstance(layer, counted):
            continue
        kernel = int(np.prod(layer.kernel.shape))
        if isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.input.shape[1:-1])) if len(layer.input.shape) > 2 else 1
        elif type(layer).__name__.endswith("Transpose"):  # every input position scatters one kernel
            positions = int(np.prod(layer.input.shape[1:-1]))
        else:
            positions = int(np.prod(layer.output.shape[1:-1]))
        total += positions * kernel
    return total


def _arithmetic(hm, fm) -> dict[str, Any]:
    """MACs of what each export must compute: the classifier, and the classifier + expansion path."""
    import keras

    probabilities = fm.model.get_layer("probabilities").output
    high_res = fm.model.get_layer("tr_up_early").output
    classifier = multiply_accumulates(hm.model)
    full = multiply_accumulates(keras.Model(fm.model.inputs, [probabilities, high_res]))
    return {
        "classifier_gmacs_per_image": round(classifier / 1e9, 3),
        "classifier_plus_expansion_gmacs_per_image": round(full / 1e9, 3),
        "full_vs_classifier_macs_ratio": round(full / classifier, 2),
    }


def _is_full(name: str) -> bool:
    return name in ("full_hr", "full_all", "explain_full")


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
        variants, export_s, arithmetic = _export_all(base, args.size, args.classes)
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
        # Paired measurements: each variant right next to its reference(s), in alternating order, so that
        # load changes on a shared machine hit both sides of every ratio alike.
        refs = {n: ["bare"] + (["full_forward_raw"] if _is_full(n) else []) for n in fns if n != "bare"}
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {n: {"b1": [], "bN": []} for n in fns}
        ratios: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {
            (n, ref): {"b1": [], "bN": []} for n, rs in refs.items() for ref in rs
        }
        names = list(refs)
        for r in range(args.repeats):
            for name in names if r % 2 == 0 else names[::-1]:
                for ref in refs[name]:
                    got = {}
                    for n in (ref, name) if r % 2 == 0 else (name, ref):
                        got[n] = {
                            "b1": _timed(fns[n], in1[n], args.latency_calls),
                            "bN": _timed(fns[n], inb[n], 1),
                        }
                        for k in ("b1", "bN"):
                            samples[n][k].append(got[n][k])
                    for k in ("b1", "bN"):
                        ratios[(name, ref)][k].append(
                            (got[name][k][0] / got[ref][k][0], got[name][k][1] / got[ref][k][1])
                        )

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    results: dict[str, Any] = {}
    for name in fns:
        b1 = [s[0] for s in samples[name]["b1"]]
        bn = [s[0] for s in samples[name]["bN"]]
        entry: dict[str, Any] = {
            "signature": variants[name][1],
            "latency_b1_ms": round(1000 * statistics.median(b1), 2),
            "latency_b1_best_ms": round(1000 * min(b1), 2),
            f"throughput_b{args.batch}_img_s": round(args.batch / statistics.median(bn), 1),
            f"throughput_b{args.batch}_best_img_s": round(args.batch / min(bn), 1),
            "first_call_s": round(first_call[name], 2),
        }
        for ref in refs.get(name, []):
            prefix = "slowdown" if ref == "bare" else "vs_full_forward"
            rb1, rbn = ratios[(name, ref)]["b1"], ratios[(name, ref)]["bN"]
            entry[f"{prefix}_b1"] = med([x[0] for x in rb1])
            entry[f"{prefix}_b1_cpu"] = med([x[1] for x in rb1])
            entry[f"{prefix}_b1_range"] = [round(min(x[0] for x in rb1), 3), round(max(x[0] for x in rb1), 3)]
            entry[f"{prefix}_b{args.batch}"] = med([x[0] for x in rbn])
            entry[f"{prefix}_b{args.batch}_cpu"] = med([x[1] for x in rbn])
            entry[f"{prefix}_b{args.batch}_range"] = [
                round(min(x[0] for x in rbn), 3),
                round(max(x[0] for x in rbn), 3),
            ]
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
        "arithmetic": arithmetic,
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
