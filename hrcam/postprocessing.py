"""HR-CAM refinement pipeline: region growing on the high-res CAM, seeded and bounded by the low-res CAM.

:func:`pipeline` reproduces ``postprocessing.pipeline`` of the original HR-CAM code
(djib2011/high-res-mapping) step by step, in NumPy/OpenCV/SimpleITK (no TensorFlow, no PIL round trips),
for one image or a batch;
:func:`refine` runs it over a batch in parallel worker processes with a progress bar.

Steps (image of size H x W, low-res CAM of size h x w; ``percentile`` is NumPy's linear interpolation,
which the original's ``min + iqr(rng=(0, p))`` equals):

1. ``blurred``: the high-res CAM min-max scaled to [0, 1], then a 5 x 5 **box** blur (every weight 1/25,
   not Gaussian) with reflected borders (``d c b a | a b c d``, SciPy's ``'reflect'``).
2. ``gradient``: Sobel gradient magnitude of ``blurred`` (reflected borders, as scikit-image >= 0.19),
   min-max scaled to [0, 1].
3. ``low`` / ``low_resized``: the low-res CAM min-max scaled to [0, 1], and its half-pixel-centre bilinear
   up-sampling to H x W (equal to ``tf.image.resize(..., "bilinear")`` and to PIL's bilinear up-sampling),
   min-max scaled again (as the original's merge step does); ``roi`` = ``low_resized >
   percentile(low_resized, roi_percentile)`` (strict).
4. ``bounds`` = (lower, upper) = the 25th / 75th percentiles of ``gradient`` inside the ROI.
5. ``focal_points``: (x=column, y=row) integer seeds. ``"global"``: the ``num_focal_points`` largest pixels
   of ``low_resized`` (default ``round(sqrt(S))`` with S = sqrt(H * W), i.e. 15 at 224 x 224; ties broken in
   row-major order; listed best first). ``"local"``: the local maxima (plateaus included, 8-connectivity) of
   ``low`` whose value is at least (max + min) / 2 of the maxima values, up-sampled to H x W by
   half-pixel-centre nearest neighbour; ``maxima_areas="small"`` skeletonises those blocks, ``"large"``
   keeps every pixel of them.
6. ``segmented``: SimpleITK ``ConnectedThreshold`` on ``gradient`` from the seeds: a flood fill over
   4-connected (face) neighbours whose value lies in [lower, upper] (**inclusive** bounds, compared in
   float32). A seed whose own value is outside the bounds grows nothing.
7. ``edges`` = ``gradient >= upper``; ``full_segment`` = ``segmented | (edges & roi)`` with the small holes
   filled: background components (4-connected, touching the border or not) of fewer than ``hole_size``
   pixels (default ``round(256 * H * W / 224**2)``, i.e. 256 at 224 x 224) become foreground.
8. ``merged`` (the refined CAM, float32 in [0, 1]): ``"blend"`` = ``alpha * full_segment + (1 - alpha) *
   low_resized``, ``"multiply"`` = their product. If ``full_segment`` is empty, ``merged`` is
   ``low_resized``; if ``low_resized`` has no positive pixel, ``merged`` is ``full_segment``
   (the original's rule, for both merge types).
9. ``result``: the image (float32 in [0, 1]) with the rejected pixels set to 0. ``"percentage"`` keeps the
   pixels of ``merged`` strictly above its value at sorted (ascending) position
   ``int((1 - filter_percentage / 100) * H * W)``, i.e. at most the top ``filter_percentage`` percent;
   ``"threshold"`` keeps the pixels where ``merged`` min-max scaled to [0, 1] is strictly above
   ``filter_threshold``.

Bugs of the original fixed here (each has a regression test in ``tests/test_postprocessing.py``):

* the ``'edges'`` key held the Sobel gradient: now ``'gradient'`` holds the gradient and ``'edges'`` the
  thresholded edges (``gradient >= upper``) that are added inside the ROI;
* the documented merge types ``['blend', 'merge']`` did not match the code: the types are ``'blend'`` and
  ``'multiply'``, and anything else (``'merge'`` included) raises a ValueError that says so;
* ``filter_percentage`` was documented as a fraction in [0, 1] but used as a percentage: it is a percentage
  in (0, 100], validated, and values below 1 warn (0.15 keeps 0.15 % of the pixels, not 15 %);
* an unknown ``filter_type`` left ``result`` undefined (UnboundLocalError): it raises a ValueError up front;
* the percentage filter computed its threshold on ``merged`` and then compared it with ``merged`` min-max
  normalised a second time (shifting the kept fraction): the comparison now uses the same values;
* in local focal-point mode a negative threshold selected every non-maximum pixel (``maxima * low > thr``
  is ``0 > thr`` off the maxima), and a single maximum selected nothing (``max > max``): seeds are now the
  maxima whose value is ``>= thr``, so there is always at least one;
* a region-growing bound of exactly 0.0 was treated as missing and replaced by a whole-image percentile:
  0.0 is a valid bound; only an empty ROI (a constant low-res CAM) falls back to the whole image;
* an empty seed list crashed SimpleITK: it now grows nothing (``segmented`` all False);
* the hole size (256) and the number of global focal points (15) were hard-wired to 224 x 224 images: both
  scale with the image (see above) and can be set with ``hole_size`` / ``num_focal_points``.

Deliberate differences that are not bugs: the low-res CAM is up-sampled in float32 instead of after an 8-bit
quantisation (differences <= 1/255); the Sobel filter reflects at the border (scikit-image >= 0.19) where the
original's scikit-image zeroed the 1-pixel border; ``result`` is float32 in [0, 1] whatever the input dtype.

This module imports no TensorFlow (worker processes start in well under a second), and nothing runs at import.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any

import cv2
import numpy as np
import SimpleITK as sitk

__all__ = [
    "pipeline",
    "refine",
    "region_growing",
    "find_focal_points",
    "fill_small_holes",
    "resize_bilinear",
    "STEP_KEYS",
]

STEP_KEYS = (
    "blurred",
    "low",
    "low_resized",
    "gradient",
    "edges",
    "roi",
    "bounds",
    "focal_points",
    "segmented",
    "full_segment",
    "merged",
    "result",
)

_REFERENCE_SIZE = 224  # the original's hard-wired image side
_REFERENCE_HOLE = 256  # holes smaller than this were filled at 224 x 224
_FLOAT_TOLERANCE = 1e-3  # same slack as hrcam.ops.check_images for float pixels
_CHUNK = 16  # images processed together: big enough to vectorise, small enough to stay in cache


# --------------------------------------------------------------------------------------------------
# Validation helpers (NumPy only: hrcam.ops imports TensorFlow, which worker processes must not pay for)
# --------------------------------------------------------------------------------------------------
def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", type(x).__name__)
    return f"shape {tuple(shape) if shape is not None else '?'} and dtype {dtype}"


def _to_array(x: Any, name: str) -> np.ndarray:
    """Array-likes and tensors -> NumPy (tensors only when their framework is already imported)."""
    if "tensorflow" in sys.modules and type(x).__module__.startswith(("tensorflow", "keras")):
        from hrcam.ops import to_numpy  # TF is loaded already: no import cost

        x = to_numpy(x)
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__array__"):
            x = np.asarray(x)
        else:
            raise TypeError(f"`{name}` must be a NumPy array or a tensor, got {type(x).__name__}")
    return x


def _check_map(x: Any, name: str, ndim: int) -> np.ndarray:
    x = _to_array(x, name)
    if x.dtype.kind not in "uif" or x.dtype == bool:
        raise TypeError(f"`{name}` must hold real numbers, got {_describe(x)}")
    if x.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got {_describe(x)}")
    if x.size == 0:
        raise ValueError(f"`{name}` is empty: {_describe(x)}")
    x = x.astype(np.float32, copy=False)
    if not (np.isfinite(x.min()) and np.isfinite(x.max())):  # min/max propagate NaN: one pass less
        raise ValueError(f"`{name}` contains NaN or infinite values ({_describe(x)})")
    return x


def _check_images(x: Any, name: str, ndim: int) -> np.ndarray:
    """Validate uint8 [0, 255] or float [0, 1] pixels (..., H, W, C); return them unconverted.

    Integer pixels stay integers and float pixels become float32 (clipped to [0, 1] if within the
    tolerance): the conversion to float32 [0, 1] happens chunk by chunk in :func:`_filter`, the only
    step that needs the image, so a large batch is never converted as a whole.
    """
    x = _to_array(x, name)
    if x.dtype == bool or x.dtype.kind not in "uif":
        raise TypeError(f"`{name}` must hold uint8 or float pixels, got {_describe(x)}")
    if x.ndim != ndim:
        layout = "(height, width, channels)" if ndim == 3 else "(batch, height, width, channels)"
        raise ValueError(f"`{name}` must have rank {ndim} {layout}, got {_describe(x)}")
    if x.size == 0:
        raise ValueError(f"`{name}` is empty: {_describe(x)}")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "ui":
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"`{name}` integer pixels must be in [0, 255], got values in [{lo}, {hi}]")
        return x
    x = x.astype(np.float32, copy=False)
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"`{name}` contains NaN or infinite values ({_describe(x)})")
    if lo < -_FLOAT_TOLERANCE or hi > 1 + _FLOAT_TOLERANCE:
        raise ValueError(
            f"`{name}` float pixels must be in [0, 1] (pass uint8 for 0-255 data), "
            f"got values in [{lo:.4g}, {hi:.4g}]"
        )
    if lo < 0 or hi > 1:
        x = np.clip(x, 0.0, 1.0)
    return x


def _check_real(
    name: str, value: Any, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False
) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi) and math.isfinite(v)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"`{name}` must be in {interval}, got {value!r}")
    return v


def _check_choice(name: str, value: Any, choices: Sequence[str], hint: str = "") -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}{hint}")
    return value


def _check_optional_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be None or an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be None or an int >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class _Params:
    roi_percentile: float = 85.0
    focal_scope: str = "global"
    maxima_areas: str = "small"
    merge_type: str = "blend"
    merge_alpha: float = 0.5
    filter_type: str = "percentage"
    filter_percentage: float = 15.0
    filter_threshold: float = 0.6
    hole_size: int | None = None
    num_focal_points: int | None = None


def _validate_params(**kw: Any) -> _Params:
    unknown = sorted(set(kw) - set(_Params.__dataclass_fields__))
    if unknown:
        raise TypeError(
            f"unknown pipeline parameter(s) {unknown}; expected some of {list(_Params.__dataclass_fields__)}"
        )
    p = _Params(**kw)
    roi = _check_real("roi_percentile", p.roi_percentile, 0.0, 100.0, hi_open=True)
    _check_choice("focal_scope", p.focal_scope, ("global", "local"))
    _check_choice(
        "maxima_areas",
        p.maxima_areas,
        ("small", "large"),
        " ('small' skeletonises each local-maximum block, 'large' keeps it whole; "
        "'global'/'local' are values of `focal_scope`)"
        if p.maxima_areas in ("global", "local")
        else "",
    )
    _check_choice(
        "merge_type",
        p.merge_type,
        ("blend", "multiply"),
        " (the original docs named 'merge', but the code only ever accepted 'blend' and 'multiply')"
        if p.merge_type == "merge"
        else "",
    )
    alpha = _check_real("merge_alpha", p.merge_alpha, 0.0, 1.0)
    _check_choice("filter_type", p.filter_type, ("percentage", "threshold"))
    pct = _check_real("filter_percentage", p.filter_percentage, 0.0, 100.0, lo_open=True)
    if p.filter_type == "percentage" and pct < 1.0:
        warnings.warn(
            f"filter_percentage={pct:g} keeps {pct:g}% of the pixels; it is a percentage in (0, 100], "
            f"not a fraction (pass {pct * 100:g} for {pct * 100:g}%)",
            UserWarning,
            stacklevel=3,
        )
    thr = _check_real("filter_threshold", p.filter_threshold, 0.0, 1.0, hi_open=True)
    hole = _check_optional_int("hole_size", p.hole_size, 0)
    npts = _check_optional_int("num_focal_points", p.num_focal_points, 1)
    return _Params(
        roi, p.focal_scope, p.maxima_areas, p.merge_type, alpha, p.filter_type, pct, thr, hole, npts
    )


# --------------------------------------------------------------------------------------------------
# Vectorised building blocks
# --------------------------------------------------------------------------------------------------
def _minmax(x: np.ndarray) -> np.ndarray:
    """Min-max scale each (H, W) map of an (N, H, W) stack to [0, 1]; constant maps -> zeros."""
    flat = x.reshape(x.shape[0], -1)
    lo = flat.min(axis=1)
    span = flat.max(axis=1) - lo
    scale = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)  # constant: (x - lo) * 0 = 0
    out = np.subtract(x, lo[:, None, None], dtype=np.float32)
    out *= scale[:, None, None]
    return out


def resize_bilinear(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Half-pixel-centre bilinear resize of a stack of maps, without TensorFlow.

    Equals ``tf.image.resize(maps[..., None], size, "bilinear")`` (no antialiasing) and, for up-sampling,
    PIL's bilinear, to float32 rounding (``cv2.resize(..., INTER_LINEAR)`` underneath, ~0.2 ms per
    14 x 14 -> 224 x 224 map, and no BLAS threads to fight over).

    Args:
        maps: (N, h, w) or (h, w) real array.
        size: (H, W) output size.

    Returns:
        float32 (N, H, W) (or (H, W) for a single map).
    """
    arr = np.asarray(maps, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"`maps` must be (h, w) or (N, h, w), got {_describe(arr)}")
    if len(size) != 2 or min(int(s) for s in size) < 1:
        raise ValueError(f"`size` must be (H, W) with positive entries, got {size!r}")
    single = arr.ndim == 2
    stack = arr[None] if single else arr
    H, W = int(size[0]), int(size[1])
    out = np.empty((stack.shape[0], H, W), dtype=np.float32)
    for i in range(stack.shape[0]):
        cv2.resize(stack[i], (W, H), dst=out[i], interpolation=cv2.INTER_LINEAR)
    return out[0] if single else out


def _box_blur(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):  # cv2 is ~6x faster per image than a vectorised scipy filter
        cv2.blur(x[i], (5, 5), dst=out[i], borderType=cv2.BORDER_REFLECT)
    return out


def _sobel_magnitude(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        gx = cv2.Sobel(x[i], cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
        gy = cv2.Sobel(x[i], cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
        np.sqrt(gx * gx + gy * gy, out=out[i])  # (cv2.magnitude differs by 1 ulp between calls)
    return out


def _default_num_points(shape: tuple[int, int]) -> int:
    return max(1, int(round(math.sqrt(math.sqrt(shape[0] * shape[1])))))


def _default_hole_size(shape: tuple[int, int]) -> int:
    return int(round(_REFERENCE_HOLE * shape[0] * shape[1] / _REFERENCE_SIZE**2))


def _global_points(low_resized: np.ndarray, k: int, roi: np.ndarray | None = None) -> np.ndarray:
    """Top-k pixels of one (H, W) map as (k, 2) (x, y); ties broken in row-major order; best first.

    With ``roi`` (pixels strictly above some threshold) holding at least k pixels, the search is limited
    to it: the k-th largest value is then above the threshold, so every candidate, ties included, lies in
    the ROI and the answer is the same, from ~7x fewer values at the default 85th percentile.
    """
    flat = low_resized.ravel()
    k = min(k, flat.size)
    cand = None
    if roi is not None:
        cand = np.flatnonzero(roi.ravel())
        if cand.size >= k:
            flat = flat[cand]
        else:
            cand = None
    kth = flat.size - k
    v = np.partition(flat, kth)[kth]
    above = np.flatnonzero(flat > v)
    ties = np.flatnonzero(flat == v)[: k - above.size]
    idx = np.concatenate([above[np.argsort(-flat[above], kind="stable")], ties])
    if cand is not None:
        idx = cand[idx]
    rows, cols = np.divmod(idx, low_resized.shape[1])
    return np.stack([cols, rows], axis=1).astype(np.int64)


def find_focal_points(
    low: np.ndarray,
    image_shape: Sequence[int],
    scope: str = "global",
    maxima_areas: str = "small",
    num_points: int | None = None,
) -> np.ndarray:
    """Seeds for region growing from one low-res CAM, as (n, 2) int (x=column, y=row) at image size.

    Args:
        low: (h, w) real low-res CAM (any range; it is not rescaled).
        image_shape: (H, W) of the image the seeds index.
        scope: ``"global"``: the ``num_points`` largest pixels of the bilinear up-sampled ``low`` (ties in
            row-major order, best first; default ``round(sqrt(sqrt(H * W)))``, 15 at 224 x 224).
            ``"local"``: local maxima of ``low`` (plateaus count, 8-connectivity) whose value is ``>=
            (max + min) / 2`` of the maxima values (so at least one, also when the values are negative),
            up-sampled by half-pixel-centre nearest neighbour.
        maxima_areas: local scope only: ``"small"`` skeletonises each up-sampled maximum block,
            ``"large"`` keeps all its pixels.
        num_points: global scope only; None for the default above.

    Returns:
        (n, 2) int64 array of (x, y); n = 0 only for a constant ``low`` in local scope.
    """
    low = _check_map(low, "low", 2)
    _check_choice("scope", scope, ("global", "local"))
    _check_choice("maxima_areas", maxima_areas, ("small", "large"))
    num_points = _check_optional_int("num_points", num_points, 1)
    H, W = (int(s) for s in image_shape)
    if scope == "global":
        k = num_points if num_points is not None else _default_num_points((H, W))
        return _global_points(resize_bilinear(low, (H, W)), k)
    return _local_points(low, (H, W), maxima_areas)


def _local_points(low: np.ndarray, shape: tuple[int, int], maxima_areas: str) -> np.ndarray:
    from skimage.morphology import local_maxima, skeletonize

    maxima = local_maxima(low, allow_borders=True)
    if not maxima.any():
        return np.zeros((0, 2), dtype=np.int64)
    values = low[maxima]
    thr = (values.max() + values.min()) / 2
    keep = maxima & (low >= thr)  # fixed: the original's `maxima * low > thr` (see module docstring)
    H, W = shape
    iy = np.minimum(((np.arange(H) + 0.5) * low.shape[0] / H).astype(np.int64), low.shape[0] - 1)
    ix = np.minimum(((np.arange(W) + 0.5) * low.shape[1] / W).astype(np.int64), low.shape[1] - 1)
    big = keep[np.ix_(iy, ix)]
    if maxima_areas == "small":
        big = skeletonize(big)
    rows, cols = np.nonzero(big)
    return np.stack([cols, rows], axis=1).astype(np.int64)


def region_growing(
    gradient: np.ndarray, seeds: np.ndarray | Sequence[Sequence[int]], lower: float, upper: float
) -> np.ndarray:
    """SimpleITK ``ConnectedThreshold`` on one map: the pixels 4-connected to a seed through values in bounds.

    Args:
        gradient: (H, W) real map (compared in float32).
        seeds: (n, 2) int (x=column, y=row); seeds outside the image raise; n = 0 grows nothing.
        lower, upper: **inclusive** bounds (0.0 is a valid bound). A seed whose own value is outside
            [lower, upper] grows nothing.

    Returns:
        (H, W) bool mask.
    """
    g = np.ascontiguousarray(gradient, dtype=np.float32)
    pts = np.asarray(seeds, dtype=np.int64).reshape(-1, 2)
    if pts.size and (
        pts[:, 0].min() < 0
        or pts[:, 1].min() < 0
        or pts[:, 0].max() >= g.shape[1]
        or pts[:, 1].max() >= g.shape[0]
    ):
        raise ValueError(
            f"`seeds` must be (x, y) inside the {g.shape[1]}x{g.shape[0]} image, got {pts.tolist()}"
        )
    lo, hi = np.float32(lower), np.float32(upper)
    if pts.size == 0 or lo > hi:
        return np.zeros(g.shape, dtype=bool)
    vals = g[pts[:, 1], pts[:, 0]]
    pts = pts[(vals >= lo) & (vals <= hi)]  # SimpleITK ignores them too; skipping saves the call
    if pts.size == 0:
        return np.zeros(g.shape, dtype=bool)
    out = sitk.ConnectedThreshold(
        image1=sitk.GetImageFromArray(g),
        seedList=[(int(x), int(y)) for x, y in pts],
        lower=float(lo),
        upper=float(hi),
        replaceValue=1,
    )
    return sitk.GetArrayViewFromImage(out).astype(bool)


def fill_small_holes(mask: np.ndarray, hole_size: int) -> np.ndarray:
    """Fill background components (4-connected) of fewer than ``hole_size`` pixels, border ones included.

    Same as ``skimage.morphology.remove_small_holes(mask, max_size=hole_size - 1)`` (the original's
    ``area_threshold=hole_size``).

    Args:
        mask: (H, W) or (N, H, W) bool.
        hole_size: int >= 0; 0 or 1 fills nothing.
    """
    m = np.asarray(mask, dtype=bool)
    single = m.ndim == 2
    stack = m[None] if single else m
    out = stack.copy()
    if hole_size > 1:
        for i in range(stack.shape[0]):
            bg = (~stack[i]).view(np.uint8)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(bg, connectivity=4, ltype=cv2.CV_32S)
            small = stats[:, cv2.CC_STAT_AREA] < hole_size
            small[0] = False  # label 0 = the foreground of `mask`
            if small.any():
                out[i] |= small[labels]
    return out[0] if single else out


def _percentiles(x: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Linear-interpolation percentiles of each row of (n, N) ``x``: (n, len(qs)) float32.

    The definition of ``np.percentile(x, qs, axis=1)`` (order statistics k = floor(p) and k + 1 at
    p = q / 100 * (N - 1), interpolated in float64), but from one partition at the k's plus a row
    minimum for each k + 1: about 1.7x faster than ``np.percentile`` on 224 x 224 maps. Results can
    differ from NumPy's in the last float32 bit, never more.
    """
    N = x.shape[1]
    pos = np.asarray(qs, dtype=np.float64) / 100.0 * (N - 1)
    ks = np.floor(pos).astype(np.int64)
    part = np.partition(x, sorted(set(ks.tolist())), axis=1)
    out = np.empty((x.shape[0], len(ks)), dtype=np.float32)
    for j, (k, p) in enumerate(zip(ks.tolist(), pos.tolist(), strict=True)):
        a = part[:, k].astype(np.float64)
        # every element after position k is >= part[k], so their minimum is the (k+1)-th order statistic
        b = part[:, k + 1 :].min(axis=1).astype(np.float64) if k + 1 < N else a
        t = p - k
        out[:, j] = b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
    return out


def _percentile_threshold(merged: np.ndarray, percentage: float) -> np.ndarray:
    flat = merged.reshape(merged.shape[0], -1)
    k = min(int((1.0 - percentage / 100.0) * flat.shape[1]), flat.shape[1] - 1)
    return np.partition(flat, k, axis=1)[:, k]


# --------------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------------
def _map_steps(lows: np.ndarray, highs: np.ndarray, p: _Params, keys: frozenset[str] | None) -> dict:
    """Steps 1-8 for (N, h, w) low-res and (N, H, W) high-res CAMs (everything but ``result``).

    Runs in chunks of ``_CHUNK`` images: the temporaries of a chunk stay in the CPU caches, which halves
    the CPU time per image compared with whole-batch arrays (measured: 8.7 -> 4.2 ms at B = 256).
    """
    if lows.shape[0] <= _CHUNK:
        return _map_steps_chunk(lows, highs, p, keys)
    parts = [
        _map_steps_chunk(lows[s : s + _CHUNK], highs[s : s + _CHUNK], p, keys)
        for s in range(0, lows.shape[0], _CHUNK)
    ]
    return {
        k: [pt for part in parts for pt in part[k]]
        if k == "focal_points"
        else np.concatenate([q[k] for q in parts])
        for k in parts[0]
    }


def _map_steps_chunk(lows: np.ndarray, highs: np.ndarray, p: _Params, keys: frozenset[str] | None) -> dict:
    n, H, W = highs.shape
    low = _minmax(lows)
    blurred = _box_blur(_minmax(highs))
    gradient = _minmax(_sobel_magnitude(blurred))
    low_resized = _minmax(resize_bilinear(low, (H, W)))
    flat = low_resized.reshape(n, -1)
    roi_thr = _percentiles(flat, (p.roi_percentile,))[:, 0]
    roi = low_resized > roi_thr[:, None, None]

    num_points = p.num_focal_points if p.num_focal_points is not None else _default_num_points((H, W))
    hole = p.hole_size if p.hole_size is not None else _default_hole_size((H, W))
    bounds = np.empty((n, 2), dtype=np.float32)
    segmented = np.empty((n, H, W), dtype=bool)
    focal_points = []
    for i in range(n):  # SimpleITK region growing is inherently per image
        inside = gradient[i][roi[i]]
        vals = inside if inside.size else gradient[i].ravel()
        bounds[i] = _percentiles(vals[None], (25.0, 75.0))[0]
        if p.focal_scope == "global":
            pts = _global_points(low_resized[i], num_points, roi[i])
        else:
            pts = _local_points(low[i], (H, W), p.maxima_areas)
        focal_points.append(pts)
        segmented[i] = region_growing(gradient[i], pts, bounds[i, 0], bounds[i, 1])

    edges = gradient >= bounds[:, 1, None, None]
    full_segment = fill_small_holes(segmented | (edges & roi), hole)

    seg_f = full_segment.astype(np.float32)
    if p.merge_type == "blend":
        merged = p.merge_alpha * seg_f + (1.0 - p.merge_alpha) * low_resized
    else:
        merged = seg_f * low_resized
    seg_empty = ~full_segment.reshape(n, -1).any(axis=1)
    low_empty = ~(flat > 0).any(axis=1)
    merged[low_empty] = seg_f[low_empty]
    merged[seg_empty] = low_resized[seg_empty]
    merged = merged.astype(np.float32, copy=False)

    out = {
        "blurred": blurred,
        "low": low,
        "low_resized": low_resized,
        "gradient": gradient,
        "edges": edges,
        "roi": roi,
        "bounds": bounds,
        "focal_points": focal_points,
        "segmented": segmented,
        "full_segment": full_segment,
        "merged": merged,
    }
    if keys is not None:
        out = {k: v for k, v in out.items() if k in keys or k == "merged"}
    return out


def _filter(images: np.ndarray, merged: np.ndarray, p: _Params) -> np.ndarray:
    """Step 9: (B, H, W, C) float32 [0, 1] images with the rejected pixels zeroed, chunk by chunk."""
    out = np.empty(images.shape, dtype=np.float32)
    scale = np.float32(1 / 255) if images.dtype.kind in "ui" else np.float32(1)
    for s in range(0, images.shape[0], _CHUNK):
        m = merged[s : s + _CHUNK]
        if p.filter_type == "percentage":
            keep = m > _percentile_threshold(m, p.filter_percentage)[:, None, None]
        else:
            keep = _minmax(m) > np.float32(p.filter_threshold)
        factor = keep.astype(np.float32)  # multiplying by a float mask is 2x faster than by a bool one
        factor *= scale
        np.multiply(images[s : s + _CHUNK], factor[..., None], out=out[s : s + _CHUNK])
    return out


def _check_inputs(img: Any, low: Any, high: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Validate; return (B, H, W, C) images (uint8/int or float32, see _check_images), float32 (B, h, w)
    lows and (B, H, W) highs, and whether a single image was given."""
    low_arr = _to_array(low, "low")
    single = low_arr.ndim == 2
    if single:
        lows = _check_map(low_arr, "low", 2)[None]
        highs = _check_map(high, "high", 2)[None]
        img_arr = _to_array(img, "img")
        if img_arr.ndim == 4 and img_arr.shape[0] == 1:  # the original's (1, H, W, C) input
            img_arr = img_arr[0]
        images = _check_images(img_arr, "img", 3)[None]
    else:
        if low_arr.ndim != 3:
            raise ValueError(
                f"`low` must be (h, w) for one image or (B, h, w) for a batch, got {_describe(low_arr)}"
            )
        lows = _check_map(low_arr, "low", 3)
        highs = _check_map(high, "high", 3)
        images = _check_images(img, "img", 4)
        if not (lows.shape[0] == highs.shape[0] == images.shape[0]):
            raise ValueError(
                f"batch sizes differ: `img` has {images.shape[0]}, `low` {lows.shape[0]}, "
                f"`high` {highs.shape[0]} maps"
            )
    if highs.shape[1:] != images.shape[1:3]:
        raise ValueError(
            f"`high` must have the image's spatial size {tuple(images.shape[1:3])}, "
            f"got {tuple(highs.shape[1:])}"
        )
    if lows.shape[1] > highs.shape[1] or lows.shape[2] > highs.shape[2]:
        raise ValueError(
            f"`low` ({tuple(lows.shape[1:])}) must not be larger than the image ({tuple(highs.shape[1:])})"
        )
    return images, lows, highs, single


def _unbatch(steps: dict) -> dict:
    out = {k: v[0] for k, v in steps.items()}
    if "bounds" in out:
        out["bounds"] = (float(out["bounds"][0]), float(out["bounds"][1]))
    return out


def pipeline(
    img: Any,
    low: Any,
    high: Any,
    roi_percentile: float = 85,
    focal_scope: str = "global",
    maxima_areas: str = "small",
    merge_type: str = "blend",
    merge_alpha: float = 0.5,
    filter_type: str = "percentage",
    filter_percentage: float = 15,
    filter_threshold: float = 0.6,
    *,
    hole_size: int | None = None,
    num_focal_points: int | None = None,
) -> dict[str, Any]:
    """Refine a low-res / high-res CAM pair by region growing; return every intermediate step.

    See the module docstring for the exact semantics of each step and the original's bugs fixed here.

    Args:
        img: one image (H, W, C) (also (1, H, W, C), the original's input) or a batch (B, H, W, C);
            uint8 in [0, 255] or float in [0, 1].
        low: low-res CAM (h, w) for one image, (B, h, w) for a batch; any real range (min-max scaled).
        high: high-res CAM (H, W) / (B, H, W) at the image's size; any real range (min-max scaled).
        roi_percentile: the ROI is the up-sampled low-res CAM above this percentile, in [0, 100).
        focal_scope: ``"global"`` (top pixels of the up-sampled low-res CAM) or ``"local"`` (local maxima).
        maxima_areas: ``"small"`` or ``"large"`` (local scope only, see :func:`find_focal_points`).
        merge_type: ``"blend"`` or ``"multiply"``.
        merge_alpha: weight of the segmentation in the blend, in [0, 1].
        filter_type: ``"percentage"`` or ``"threshold"``.
        filter_percentage: percentage (0, 100] of the pixels to keep (a percentage: 15 means 15 %).
        filter_threshold: keep pixels whose min-max scaled ``merged`` is above this, in [0, 1).
        hole_size: fill background holes smaller than this many pixels; None: 256 scaled by H*W / 224**2.
        num_focal_points: global seeds; None: ``round(sqrt(sqrt(H * W)))`` (15 at 224 x 224).

    Returns:
        dict with, for one image (for a batch, each array gains a leading B axis, ``bounds`` is (B, 2)
        float32 and ``focal_points`` a list of B arrays):

        * ``blurred``, ``gradient``, ``low_resized``, ``merged``: float32 (H, W) in [0, 1];
        * ``low``: float32 (h, w) in [0, 1];
        * ``edges``, ``roi``, ``segmented``, ``full_segment``: bool (H, W);
        * ``bounds``: (lower, upper) floats; ``focal_points``: int64 (n, 2) of (x, y);
        * ``result``: float32 (H, W, C) in [0, 1], the image with rejected pixels zeroed.

    Raises:
        TypeError / ValueError: bad array types/shapes/values or parameters (named in the message).
    """
    p = _validate_params(
        roi_percentile=roi_percentile,
        focal_scope=focal_scope,
        maxima_areas=maxima_areas,
        merge_type=merge_type,
        merge_alpha=merge_alpha,
        filter_type=filter_type,
        filter_percentage=filter_percentage,
        filter_threshold=filter_threshold,
        hole_size=hole_size,
        num_focal_points=num_focal_points,
    )
    images, lows, highs, single = _check_inputs(img, low, high)
    steps = _map_steps(lows, highs, p, None)
    steps["result"] = _filter(images, steps["merged"], p)
    return _unbatch(steps) if single else steps


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
    p = _Params(**params)
    steps = _map_steps(np.array(lows), np.array(highs), p, keys)
    if "result" in outputs:
        steps["result"] = _filter(np.array(_open(inputs["images"], "r")[start:stop]), steps["merged"], p)
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
            futures = {
                executor.submit(_refine_chunk, inputs, outputs, s, min(s + chunk_size, B), params, keyset): j
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
    """Run :func:`pipeline` over a batch in parallel processes, with a progress bar.

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
            ``"all"`` or None: every step of :data:`STEP_KEYS`, as :func:`pipeline` returns them.
        executor: an existing ``concurrent.futures`` executor to reuse (not shut down here).
        start_method: for the pool created here: ``"forkserver"`` (default) or ``"spawn"``; ``"fork"``
            is accepted but can deadlock once TensorFlow is imported. Worker processes import the
            ``__main__`` module, so scripts must guard their entry point with ``if __name__ == "__main__"``.
        **params: the parameters of :func:`pipeline`.

    Returns:
        The batch dict of :func:`pipeline`, restricted to ``keys``.
    """
    p = _validate_params(**params)
    images_f, lows_f, highs_f, single = _check_inputs(images, lows, highs)
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
    _check_choice("start_method", start_method, ("forkserver", "spawn", "fork"))
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
                part = _map_steps(lows_f[s : s + chunk_size], highs_f[s : s + chunk_size], p, keyset)
                if "result" in wanted:
                    part["result"] = _filter(images_f[s : s + chunk_size], part["merged"], p)
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
