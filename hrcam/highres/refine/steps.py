"""The building blocks of the refinement pipeline, vectorised over a stack of maps where they can be.

NumPy / OpenCV / SimpleITK / scikit-image only (no TensorFlow): worker processes import this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import SimpleITK as sitk

from hrcam.arrays import check_choice, check_maps, check_optional_int, describe, resize_maps

__all__ = [
    "resize_bilinear",
    "find_focal_points",
    "region_growing",
    "fill_small_holes",
    "box_blur",
    "sobel_magnitude",
    "percentiles",
    "percentile_threshold",
    "global_points",
    "local_points",
    "default_num_points",
    "default_hole_size",
]

_REFERENCE_SIZE = 224  # the original's hard-wired image side
_REFERENCE_HOLE = 256  # holes smaller than this were filled at 224 x 224


def resize_bilinear(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Half-pixel-centre bilinear resize of a stack of maps, without TensorFlow.

    :func:`hrcam.arrays.resize_maps` for the pipeline's map stacks: equals
    ``tf.image.resize(maps[..., None], size, "bilinear")`` (no antialiasing) and, for up-sampling, PIL's
    bilinear, to float32 rounding.

    Args:
        maps: (N, h, w) or (h, w) real array.
        size: (H, W) output size.

    Returns:
        float32 (N, H, W) (or (H, W) for a single map).
    """
    arr = np.asarray(maps, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"`maps` must be (h, w) or (N, h, w), got {describe(arr)}")
    if len(size) != 2 or min(int(s) for s in size) < 1:
        raise ValueError(f"`size` must be (H, W) with positive entries, got {size!r}")
    return resize_maps(arr, size)


def box_blur(x: np.ndarray) -> np.ndarray:
    """5 x 5 box blur of each (H, W) map of a float32 stack (N, H, W), borders reflected."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):  # cv2 is ~6x faster per image than a vectorised scipy filter
        cv2.blur(x[i], (5, 5), dst=out[i], borderType=cv2.BORDER_REFLECT)
    return out


def sobel_magnitude(x: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude (3 x 3, borders reflected) of each map of a float32 stack (N, H, W)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        gx = cv2.Sobel(x[i], cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
        gy = cv2.Sobel(x[i], cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
        np.sqrt(gx * gx + gy * gy, out=out[i])  # (cv2.magnitude differs by 1 ulp between calls)
    return out


def default_num_points(shape: tuple[int, int]) -> int:
    """Global focal points for an (H, W) image: ``round(sqrt(sqrt(H * W)))`` (15 at 224 x 224)."""
    return max(1, int(round(math.sqrt(math.sqrt(shape[0] * shape[1])))))


def default_hole_size(shape: tuple[int, int]) -> int:
    """Holes filled for an (H, W) image: 256 pixels scaled by ``H * W / 224**2``."""
    return int(round(_REFERENCE_HOLE * shape[0] * shape[1] / _REFERENCE_SIZE**2))


def global_points(low_resized: np.ndarray, k: int, roi: np.ndarray | None = None) -> np.ndarray:
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
    low = check_maps(low, "low", 2, allow_bool=False)
    check_choice("scope", scope, ("global", "local"))
    check_choice("maxima_areas", maxima_areas, ("small", "large"))
    num_points = check_optional_int("num_points", num_points, 1)
    H, W = (int(s) for s in image_shape)
    if scope == "global":
        k = num_points if num_points is not None else default_num_points((H, W))
        return global_points(resize_bilinear(low, (H, W)), k)
    return local_points(low, (H, W), maxima_areas)


def local_points(low: np.ndarray, shape: tuple[int, int], maxima_areas: str) -> np.ndarray:
    """``find_focal_points(scope="local")`` without the checks: (n, 2) int64 (x, y) at ``shape`` (H, W)."""
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


def percentiles(x: np.ndarray, qs: Sequence[float]) -> np.ndarray:
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


def percentile_threshold(merged: np.ndarray, percentage: float) -> np.ndarray:
    """Per map of (N, H, W) ``merged``: the value above which ``percentage`` % of its pixels lie, (N,)."""
    flat = merged.reshape(merged.shape[0], -1)
    k = min(int((1.0 - percentage / 100.0) * flat.shape[1]), flat.shape[1] - 1)
    return np.partition(flat, k, axis=1)[:, k]
