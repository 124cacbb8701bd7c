"""Evaluation overhead of COSE and deletion / insertion, as a ratio to running the saliency method itself.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_cose.py --model runs/i13/mobilenetv2.keras --n 500

For N images (synthetic scenes, seed 2, at the model's input size; labels = the model's predictions so every
image counts): ``method`` = Grad-CAM (the public call, NumPy in and out) on the N images; ``cose`` = the full
COSE pair table (13 transforms x 6 magnitudes: 7 transforms x 6 + 6 magnitude-free runs = 48 transformed
batches, plus the originals: 49 maps per image) without model perturbations; ``deletion_insertion`` = both
curves with ``--steps`` steps (2 (steps + 1) forward passes per image). Ratios: ``cose / method`` (the cost of
COSE in Grad-CAM runs), ``cose / (49 method)`` (the overhead per map: 1 = the transforms, inverse warps
and SSIM cost nothing), ``cose_maps_fraction`` (time inside the map source), and the same for deletion /
insertion. The method is timed ``--method-repeats`` times before COSE and as often again after deletion /
insertion; the ratios use the median of those runs (a shared machine's load drifts during a long COSE run; a
minimum over a few seconds would catch a quiet moment that the COSE run never had). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help=".keras classifier (default: an untrained 64x64 HalfModel)")
    ap.add_argument("--method", default="gradcam")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of COSE, deletion / insertion")
    ap.add_argument("--method-repeats", type=int, default=3, help="timed runs of the method alone")
    args = ap.parse_args()

    import keras
    import numpy as np

    from hrcam.data.scenes import make_scenes
    from hrcam.evaluation.cose import cose_table, deletion_insertion, transform_plan
    from hrcam.models import HalfModel, load_model
    from hrcam.sources.cose import method_source, probability_fn

    if args.model:
        model = load_model(args.model)
    else:
        keras.utils.set_random_seed(0)
        model = HalfModel(num_classes=6, input_shape=(64, 64, 3))
    shape = model.input_shape if isinstance(model, HalfModel) else model.input_shape[1:]
    x = make_scenes(args.n, image_size=int(shape[0]), num_classes=6, seed=2).images.astype(np.float32) / 255.0
    source = method_source(model, args.method, batch_size=args.batch_size)
    prob = probability_fn(model)
    probs, maps = source(x[: args.batch_size])  # warm up
    labels = np.argmax(np.concatenate([prob(x[i : i + 256]) for i in range(0, len(x), 256)]), -1)

    def timed(fn, repeats=args.repeats):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return times, out

    method_times, (_, maps) = timed(lambda: source(x), args.method_repeats)
    plan = transform_plan()
    maps_per_image = 1 + len(plan)

    def run_cose():
        source.seconds = 0.0
        table, info = cose_table(source, x, labels, batch_size=args.batch_size)
        return source.seconds

    cose_table(source, x[:8], labels[:8], batch_size=args.batch_size)  # trace every transform once
    load_start = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    cose_times, maps_seconds = timed(run_cose)
    di_times, _ = timed(
        lambda: deletion_insertion(prob, x, maps, labels, steps=args.steps, batch_size=args.batch_size)
    )
    method_times += timed(lambda: source(x), args.method_repeats)[0]
    t_method, t_cose, t_di = float(np.median(method_times)), min(cose_times), min(di_times)
    result = {
        "model": args.model or "HalfModel 64x64 (untrained)",
        "method": source.name,
        "n_images": args.n,
        "transform_runs_per_image": len(plan),
        "pairs_per_image": 13 * 6,
        "seconds_method": t_method,
        "seconds_method_runs": method_times,
        "seconds_cose": t_cose,
        "seconds_deletion_insertion": t_di,
        "ratio_cose_to_method": t_cose / t_method,
        "ratio_cose_per_map": t_cose / (maps_per_image * t_method),
        "cose_maps_fraction": maps_seconds / cose_times[-1],  # of the last run
        "ratio_deletion_insertion_to_method": t_di / t_method,
        "deletion_insertion_forward_passes_per_image": 2 * (args.steps + 1),
        "steps": args.steps,
        "repeats": args.repeats,
        "method_repeats": args.method_repeats,
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "loadavg_start": load_start,
        "loadavg": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
