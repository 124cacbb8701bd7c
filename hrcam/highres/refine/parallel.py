""":func:`refine`: the refinement pipeline over a batch in parallel worker processes, with a progress bar.

Workers import only the NumPy side of hrcam (this package and :mod:`hrcam.arrays`), never TensorFlow, and
never the caller's ``__main__`` (see :func:`_main_hidden`): ``refine(..., workers=2)`` works the same
from a script file, ``python -c``, a script piped to ``python -``, and a notebook.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict
from typing import Any

import cv2
import numpy as np

from hrcam.arrays import check_choice
from hrcam.highres.refine.core import check_inputs, filter_images, map_steps
from hrcam.highres.refine.params import STEP_KEYS, Params, validate_params

__all__ = ["refine"]


_Spec = tuple  # (path, shape, dtype string) of a scratch array shared with the workers


def _open(spec: _Spec, mode: str) -> np.ndarray:
    path, shape, dtype = spec
    return np.memmap(path, dtype=np.dtype(dtype), mode=mode, shape=tuple(shape))


def _refine_chunk(
    inputs: dict[str, _Spec],
    outputs: dict[str, _Spec],
    start: int,
    stop: int,
    params: dict,
    keys: frozenset[str] | None,
) -> tuple[int, list[np.ndarray] | None]:
    """Worker task: every step for images [start, stop), written into the shared scratch arrays.

    Only the (small) focal points travel back through the pipe; the maps go through scratch files that
    the caller maps, which is faster than pickling them through a pipe when every step is requested.
    """
    lows = _open(inputs["lows"], "r")[start:stop]
    highs = _open(inputs["highs"], "r")[start:stop]
    p = Params(**params)
    steps = map_steps(np.array(lows), np.array(highs), p, keys)
    if "result" in outputs:
        steps["result"] = filter_images(
            np.array(_open(inputs["images"], "r")[start:stop]), steps["merged"], p
        )
    for k, (path, _shape, dtype) in outputs.items():
        arr = np.ascontiguousarray(steps[k], dtype=np.dtype(dtype))
        with open(path, "r+b") as f:  # a plain write: ~2x cheaper than storing through a mapping
            f.seek(start * arr[0].nbytes)
            arr.tofile(f)
    return stop - start, steps.get("focal_points")


def _pool_context(start_method: str) -> Any:
    """The multiprocessing context for refine()'s own pools.

    For ``"forkserver"``, this module is added to the server's preload list (keeping ``__main__`` and
    any modules already there), so the server imports NumPy/OpenCV/SimpleITK once and every later pool
    forks ready workers: ~0.02 s per pool instead of ~0.4 s. It only takes effect if the server has not
    started yet in this process.
    """
    ctx = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        try:
            from multiprocessing import forkserver

            current = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
        except Exception:  # pragma: no cover - a Python without the private attribute
            current = ["__main__"]
        if __name__ not in current:
            ctx.set_forkserver_preload([*current, __name__])
    return ctx


@contextlib.contextmanager
def _main_hidden(always: bool) -> Iterator[None]:
    """While worker processes start, hide the caller's ``__main__`` from them.

    "spawn" and "forkserver" children (and the fork server itself) re-run the parent's ``__main__``: by
    module name under ``python -m``, else from ``__main__.__file__``. For a script piped to ``python -``
    that "file" is ``<stdin>`` and every child died (BrokenProcessPool); for a real script, every worker
    re-imported it (TensorFlow included, if the script imports it). The tasks here live in this module and
    need nothing from ``__main__``, so for refine()'s own pools (``always``) the children start without
    it, whatever the caller is. For a caller's executor only a file that does not exist is hidden (the
    caller's other tasks may need its ``__main__``).
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    path = saved.get("__file__")
    fake = path is not None and saved.get("__spec__") is None and not os.path.isfile(path)
    if main is None or not (always or fake):
        yield
        return
    main.__dict__.pop("__file__", None)
    if "__spec__" in saved:
        main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)


def _init_worker() -> None:
    """Worker processes are the parallelism: keep OpenCV from adding threads of its own."""
    cv2.setNumThreads(1)


def _scratch_dir(nbytes: int) -> str:
    """A private temporary directory, in RAM (/dev/shm) when it has room, else in the temp dir."""
    import tempfile

    base = None
    if os.path.isdir("/dev/shm"):
        try:
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > 2 * nbytes + (64 << 20):
                base = "/dev/shm"
        except OSError:  # pragma: no cover
            base = None
    return tempfile.mkdtemp(prefix="hrcam-refine-", dir=base)


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _refine_parallel(
    images: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    starts: list[int],
    chunk_size: int,
    params: dict,
    keyset: frozenset[str] | None,
    wanted: list[str],
    workers: int,
    executor: Executor | None,
    start_method: str,
    bar: Any,
) -> dict[str, Any]:
    import shutil
    from concurrent.futures import as_completed

    B, H, W = highs.shape
    h, w = lows.shape[1:]
    shapes = {
        "blurred": ((B, H, W), "float32"),
        "low": ((B, h, w), "float32"),
        "low_resized": ((B, H, W), "float32"),
        "gradient": ((B, H, W), "float32"),
        "edges": ((B, H, W), "bool"),
        "roi": ((B, H, W), "bool"),
        "bounds": ((B, 2), "float32"),
        "segmented": ((B, H, W), "bool"),
        "full_segment": ((B, H, W), "bool"),
        "merged": ((B, H, W), "float32"),
        "result": (images.shape, "float32"),
    }
    arrays = [k for k in wanted if k in shapes]
    nbytes = (
        lows.nbytes
        + highs.nbytes
        + (images.nbytes if "result" in wanted else 0)
        + sum(int(np.prod(shapes[k][0])) * np.dtype(shapes[k][1]).itemsize for k in arrays)
    )
    tmp = _scratch_dir(nbytes)
    maps: dict[str, np.ndarray] = {}
    try:
        inputs = {
            "lows": (os.path.join(tmp, "lows"), lows.shape, "float32"),
            "highs": (os.path.join(tmp, "highs"), highs.shape, "float32"),
        }
        sources = [("lows", lows), ("highs", highs)]
        if "result" in wanted:  # the workers filter the images too, so this process stays free
            inputs["images"] = (os.path.join(tmp, "images"), images.shape, images.dtype.str)
            sources.append(("images", images))
        for name, src in sources:
            with open(inputs[name][0], "wb") as f:
                np.ascontiguousarray(src).tofile(f)
        outputs = {k: (os.path.join(tmp, k), shapes[k][0], shapes[k][1]) for k in arrays}
        for path, shape, dtype in outputs.values():
            with open(path, "wb") as f:  # sparse, sized; the workers write their rows into it
                f.truncate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        own = executor is None
        if own:
            ctx = _pool_context(start_method)
            executor = ProcessPoolExecutor(
                max_workers=min(workers, len(starts)), mp_context=ctx, initializer=_init_worker
            )
        points: list[list[np.ndarray] | None] = [None] * len(starts)
        try:
            with _main_hidden(always=own):  # workers (and the fork server) start during these submits
                futures = {
                    executor.submit(
                        _refine_chunk, inputs, outputs, s, min(s + chunk_size, B), params, keyset
                    ): j
                    for j, s in enumerate(starts)
                }
            for fut in as_completed(futures):
                n_done, pts = fut.result()
                points[futures[fut]] = pts
                bar.update(n_done)
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
        for k, spec in outputs.items():
            maps[k] = _open(spec, "r+")  # mapping the written pages is cheap (no copy)
    finally:
        # The mappings stay valid after the files are removed (POSIX), so no copy is needed.
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {k: np.asarray(maps[k]) for k in arrays}
    if "focal_points" in wanted:
        out["focal_points"] = [pt for chunk in points for pt in chunk]
    return {k: out[k] for k in wanted}


def refine(
    images: Any,
    lows: Any,
    highs: Any,
    workers: int | None = None,
    *,
    chunk_size: int | None = None,
    progress: bool = True,
    keys: Sequence[str] | str | None = ("merged",),
    executor: Executor | None = None,
    start_method: str = "forkserver",
    **params: Any,
) -> dict[str, Any]:
    """Run :func:`hrcam.highres.refine.pipeline` over a batch in parallel processes, with a progress bar.

    Every step runs in the worker processes, on chunks of the batch; inputs and outputs travel through
    scratch files (in /dev/shm when it has room; removed before returning, the returned arrays map their
    pages), not pipes, so this process stays idle. For the returned keys, the output equals
    ``pipeline(images, lows, highs, **params)`` exactly. With an ``executor``, ``workers`` only sizes the
    chunks.

    Args:
        images: (B, H, W, C) uint8 [0, 255] or float [0, 1].
        lows: (B, h, w) low-res CAMs. highs: (B, H, W) high-res CAMs.
        workers: number of processes; None: the CPUs available to this process; 0 or 1: run here.
        chunk_size: images per task; None: about 4 tasks per worker, at most 64 images each.
        progress: show a tqdm progress bar (stderr), counted in images.
        keys: the steps to return; ``merged`` (the refined CAM) always comes back, and by default only
            it: every step is ~1.7 MB per 224 x 224 image (``result`` alone 0.6 MB), which costs about as
            much CPU time to move as the pipeline itself (measured: 3.2 vs 6.0 ms per image).
            ``"all"`` or None: every step of :data:`STEP_KEYS`, as :func:`hrcam.highres.refine.pipeline`
            returns them.
        executor: an existing ``concurrent.futures`` executor to reuse (not shut down here).
        start_method: for the pool created here: ``"forkserver"`` (default) or ``"spawn"``; ``"fork"``
            is accepted but can deadlock once TensorFlow is imported. The pool's workers never import the
            caller's ``__main__`` (nor TensorFlow): this works the same from a script, ``python -c``,
            ``python -`` (stdin) and notebooks. With an ``executor``, its workers are the caller's.
        **params: the parameters of :func:`hrcam.highres.refine.pipeline`.

    Returns:
        The batch dict of :func:`hrcam.highres.refine.pipeline`, restricted to ``keys``.
    """
    p = validate_params(**params)
    images_f, lows_f, highs_f, single = check_inputs(images, lows, highs)
    if single:
        raise ValueError("`lows` must be a batch (B, h, w) for refine(); use pipeline() for one image")
    if keys == "all":
        keys = None
    elif isinstance(keys, str):
        keys = (keys,)
    if keys is not None:
        bad = sorted(set(keys) - set(STEP_KEYS))
        if bad:
            raise ValueError(f"`keys` has unknown step names {bad}; expected names from {list(STEP_KEYS)}")
        keyset: frozenset[str] | None = frozenset(keys)
    else:
        keyset = None
    if workers is None:
        workers = _default_workers()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise ValueError(f"`workers` must be None or an int >= 0, got {workers!r}")
    check_choice("start_method", start_method, ("forkserver", "spawn", "fork"))
    B = lows_f.shape[0]
    if chunk_size is None:
        chunk_size = max(1, min(64, math.ceil(B / max(1, 4 * max(1, workers)))))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be None or an int >= 1, got {chunk_size!r}")
    starts = list(range(0, B, chunk_size))
    param_dict = asdict(p)
    wanted = [k for k in STEP_KEYS if keyset is None or k in keyset or k == "merged"]

    from tqdm.auto import tqdm

    out: dict[str, Any] = {}
    with tqdm(total=B, disable=not progress, desc="refine", unit="img") as bar:
        if executor is None and workers <= 1:
            parts = []
            for s in starts:
                part = map_steps(lows_f[s : s + chunk_size], highs_f[s : s + chunk_size], p, keyset)
                if "result" in wanted:
                    part["result"] = filter_images(images_f[s : s + chunk_size], part["merged"], p)
                parts.append(part)
                bar.update(part["merged"].shape[0])
            for k in wanted:
                if k == "focal_points":
                    out[k] = [pts for part in parts for pts in part[k]]
                else:
                    out[k] = np.concatenate([part[k] for part in parts], axis=0)
        else:
            out = _refine_parallel(
                images_f,
                lows_f,
                highs_f,
                starts,
                chunk_size,
                param_dict,
                keyset,
                wanted,
                workers,
                executor,
                start_method,
                bar,
            )
    return out
