"""Throughput of the HR-CAM refinement pipeline at 224 x 224 (low-res CAM 14 x 14); prints JSON.

    .venv/bin/python scripts/bench_pipeline.py [--n 512] [--workers 2] [--repeats 3]

Measures (images per second, median of ``--repeats`` runs):
* ``pipeline``: ``hrcam.postprocessing.pipeline`` on the whole batch in this process;
* ``refine_cold_*``: ``refine(..., workers=W)`` creating its own process pool (start-up included);
* ``refine_warm_*``: the same with a reused ``ProcessPoolExecutor`` (steady state);
* ``*_merged`` is refine's default (``keys=("merged",)``, the refined CAM), ``*_all_steps`` returns every
  step (``keys="all"``, ~1.7 MB per image);
* ``stages_ms_per_image``: where the CPU time of one in-process run goes, step by step;
* ``cpu_ms_per_image``: CPU time (this process + workers) per image, which unlike images/s does not
  depend on how busy the machine is.

The synthetic scenes (an L-shaped object, a dome-shaped sharp high-res CAM, a blurry low-res CAM) make
region growing do real work; trained models are not needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np


def make_batch(n: int, size: int = 224, low_size: int = 14, seed: int = 0):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    imgs = np.empty((n, size, size, 3), np.uint8)
    highs = np.empty((n, size, size), np.float32)
    lows = np.empty((n, low_size, low_size), np.float32)
    f = size // low_size
    for i in range(n):
        cy, cx = rng.uniform(0.35, 0.65, 2)
        obj = (((yy - cy) / 0.2) ** 2 + ((xx - cx) / 0.08) ** 2 <= 1) | (
            ((yy - cy - 0.12) / 0.07) ** 2 + ((xx - cx - 0.1) / 0.2) ** 2 <= 1
        )
        imgs[i] = (rng.uniform(0, 0.3, (size, size, 3)) + 0.5 * obj[..., None]) * 255
        dome = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05)
        highs[i] = obj * (0.5 + 0.5 * dome) + 0.03 * rng.random((size, size))
        low = obj.astype(np.float32).reshape(low_size, f, low_size, f).mean((1, 3))
        lows[i] = ndimage.gaussian_filter(low, 1.0) + 0.05 * rng.random((low_size, low_size))
    return imgs, lows, highs


class _Clock:
    """Accumulates CPU seconds per stage name: ``with clock("name"): ...``."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.name = ""

    def __call__(self, name: str) -> _Clock:
        self.name = name
        return self

    def __enter__(self) -> None:
        self.t0 = time.process_time()

    def __exit__(self, *exc) -> None:
        self.t[self.name] = self.t.get(self.name, 0.0) + time.process_time() - self.t0


def stage_times(imgs, lows, highs) -> dict[str, float]:
    """CPU milliseconds per image for each step, run as the pipeline does (chunks of 16 images).

    Uses the pipeline's own building blocks; CPU time (``time.process_time``) rather than wall time, so
    the split stays meaningful on a machine shared with other jobs.
    """
    from hrcam.arrays import minmax
    from hrcam.highres.refine import core, validate_params
    from hrcam.highres.refine import steps as st

    p = validate_params()
    clock = _Clock()
    with clock("validate_inputs"):
        images, lows_f, highs_f, _ = core.check_inputs(imgs, lows, highs)
    n_total = len(imgs)
    merged = []
    for s in range(0, n_total, core.CHUNK):
        lo, hi = lows_f[s : s + core.CHUNK], highs_f[s : s + core.CHUNK]
        n, H, W = hi.shape
        with clock("normalise_and_box_blur"):
            blurred = st.box_blur(minmax(hi))
        with clock("sobel"):
            gradient = minmax(st.sobel_magnitude(blurred))
        with clock("resize_low"):
            low_r = minmax(st.resize_bilinear(minmax(lo), (H, W)))
        with clock("roi_percentile"):
            roi = low_r > st.percentiles(low_r.reshape(n, -1), (85.0,))[:, 0, None, None]
        bounds = np.empty((n, 2), np.float32)
        seg = np.empty((n, H, W), bool)
        for i in range(n):
            with clock("bounds_percentiles"):
                bounds[i] = st.percentiles(gradient[i][roi[i]][None], (25.0, 75.0))[0]
            with clock("focal_points"):
                points = st.global_points(low_r[i], 15, roi[i])
            with clock("region_growing_sitk"):
                seg[i] = st.region_growing(gradient[i], points, *bounds[i])
        with clock("edges_and_fill_holes"):
            full = st.fill_small_holes(seg | ((gradient >= bounds[:, 1, None, None]) & roi), 256)
        with clock("merge"):
            merged.append(np.float32(0.5) * full.astype(np.float32) + np.float32(0.5) * low_r)
    merged = np.concatenate(merged)
    with clock("filter_result"):
        core.filter_images(images, merged, p)
    t = {k: v * 1e3 / n_total for k, v in clock.t.items()}
    t["total"] = sum(t.values())
    return {k: round(v, 3) for k, v in t.items()}


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) of this process plus the given (worker) processes, from /proc."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    total = r.ru_utime + r.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def rate(fn, n: int, repeats: int, pids: list[int] | None = None) -> dict[str, float]:
    """Images per second (median/min/max of ``repeats`` runs); with ``pids``, also CPU ms per image."""
    runs, cpu = [], []
    for _ in range(repeats):
        c0 = _cpu_seconds(pids or [])
        t0 = time.perf_counter()
        fn()
        runs.append(n / (time.perf_counter() - t0))
        cpu.append((_cpu_seconds(pids or []) - c0) * 1e3 / n)
    out = {
        "median": round(statistics.median(runs), 1),
        "min": round(min(runs), 1),
        "max": round(max(runs), 1),
    }
    if pids is not None:
        out["cpu_ms_per_image"] = round(statistics.median(cpu), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="images per run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from hrcam.postprocessing import pipeline, refine

    load_before = round(os.getloadavg()[0], 2)
    imgs, lows, highs = make_batch(args.n)
    pipeline(imgs[:4], lows[:4], highs[:4])  # warm caches and lazy imports
    out: dict = {
        "benchmark": "hrcam.postprocessing pipeline / refine",
        "image_size": [224, 224],
        "low_res_size": [14, 14],
        "n_images": args.n,
        "workers": args.workers,
        "repeats": args.repeats,
        "stages_ms_per_image": stage_times(imgs[:128], lows[:128], highs[:128]),
    }
    w = args.workers
    out["images_per_second"] = res = {}
    res["pipeline_in_process"] = rate(lambda: pipeline(imgs, lows, highs), args.n, args.repeats, pids=[])
    for keys, tag in ((("merged",), "merged"), ("all", "all_steps")):
        res[f"refine_cold_{tag}"] = rate(
            lambda keys=keys: refine(imgs, lows, highs, workers=w, progress=False, keys=keys),
            args.n,
            args.repeats,
        )
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(w, mp_context=ctx) as ex:
        t0 = time.perf_counter()
        refine(
            imgs[: 2 * w], lows[: 2 * w], highs[: 2 * w], workers=w, progress=False, executor=ex, chunk_size=1
        )
        out["pool_start_seconds"] = round(time.perf_counter() - t0, 2)
        pids = list(getattr(ex, "_processes", None) or {})  # the workers, to count their CPU time
        for keys, tag in ((("merged",), "merged"), ("all", "all_steps")):
            res[f"refine_warm_{tag}"] = rate(
                lambda keys=keys: refine(
                    imgs, lows, highs, workers=w, progress=False, keys=keys, executor=ex
                ),
                args.n,
                args.repeats,
                pids=pids,
            )
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out["machine"] = {
        "cpu": cpu,
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "load_average_1min_before": load_before,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
