"""Boxes in hrcam's one convention, pixel-edge ``(x0, y0, x1, y1)`` (NumPy only; see :mod:`hrcam.arrays`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hrcam.arrays.checks import as_size, describe, to_array


# --------------------------------------------------------------------------------------------------
# Boxes (pixel-edge (x0, y0, x1, y1), see the module docstring)
# --------------------------------------------------------------------------------------------------
def check_boxes(x: Any, name: str = "boxes") -> np.ndarray:
    """One image's boxes, (n, 4) or (4,) -> (n, 4) float64; finite and with ``x1 >= x0, y1 >= y0``."""
    arr = to_array(x, name)
    if arr.dtype.kind not in "uif":
        raise TypeError(f"`{name}` must hold numbers, got {describe(arr)}")
    if arr.size and arr.shape[-1] != 4:
        raise ValueError(f"`{name}` must have shape (n, 4) (x0, y0, x1, y1), got {describe(arr)}")
    arr = arr.astype(np.float64).reshape(-1, 4) if arr.size else np.zeros((0, 4))
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite coordinates")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        raise ValueError(
            f"`{name}` boxes must be (x_min, y_min, x_max, y_max) with max >= min, got {arr[bad][0].tolist()}"
        )
    return arr


def batch_boxes(
    boxes: Any, batch: int | None = None, name: str = "boxes", allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch of boxes -> ``(flat (G, 4) float64, owner (G,) image index, counts (B,))``, grouped by image.

    Args:
        boxes: a list of B (n_i, 4) array-likes, or an array (B, 4) or (B, n, 4).
        batch: the expected B (None: whatever came).
        allow_empty: whether an image may have no box.
    """
    if isinstance(boxes, np.ndarray) or hasattr(boxes, "numpy"):
        arr = to_array(boxes, name)
        if arr.ndim == 2 and arr.shape[-1] == 4:
            arr = arr[:, None, :]
        if arr.ndim != 3 or arr.shape[-1] != 4:
            raise ValueError(f"`{name}` as an array must be (B, 4) or (B, n, 4), got {describe(arr)}")
        per_image = list(arr)
    elif isinstance(boxes, Sequence) and not isinstance(boxes, (str, bytes)):
        per_image = list(boxes)
    else:
        raise TypeError(
            f"`{name}` must be a list of B (n_i, 4) arrays or a (B, n, 4) array, got {type(boxes)}"
        )
    if batch is not None and len(per_image) != batch:
        raise ValueError(f"`{name}` has {len(per_image)} entries but there are {batch} maps")
    checked = [check_boxes(b, f"{name}[{i}]") for i, b in enumerate(per_image)]
    counts = np.array([len(b) for b in checked], dtype=np.int64)
    if not allow_empty and (counts == 0).any():
        raise ValueError(f"`{name}[{int(np.argmin(counts))}]` has no box; every image needs at least one")
    flat = np.concatenate(checked, axis=0) if checked else np.zeros((0, 4))
    return flat, np.repeat(np.arange(len(checked)), counts), counts


def raster_ranges(boxes: np.ndarray, H: int, W: int) -> tuple[np.ndarray, ...]:
    """Pixel index ranges ``[c0, c1) x [r0, r1)`` covered by (G, 4) boxes (pixel centres inside), clipped."""
    c0 = np.clip(np.ceil(boxes[:, 0] - 0.5), 0, W).astype(np.int64)
    r0 = np.clip(np.ceil(boxes[:, 1] - 0.5), 0, H).astype(np.int64)
    c1 = np.clip(np.ceil(boxes[:, 2] - 0.5), 0, W).astype(np.int64)
    r1 = np.clip(np.ceil(boxes[:, 3] - 0.5), 0, H).astype(np.int64)
    return c0, r0, np.maximum(c1, c0), np.maximum(r1, r0)


def boxes_to_masks(boxes: Any, shape: Any) -> np.ndarray:
    """Rasterise each image's boxes (their union) onto an (H, W) grid by pixel centres.

    Args:
        boxes: a batch of pixel-edge boxes (see :func:`batch_boxes`); images may have no box. Parts
            outside the grid are ignored.
        shape: (H, W), or an int for a square grid.

    Returns:
        (B, H, W) bool masks; an integer box ``(x0, y0, x1, y1)`` is exactly the slice ``[y0:y1, x0:x1]``.
    """
    H, W = as_size(shape, "shape")
    flat, owner, counts = batch_boxes(boxes, None, "boxes", allow_empty=True)
    n = len(counts)
    c0, r0, c1, r1 = raster_ranges(flat, H, W)
    keep = (c1 > c0) & (r1 > r0)
    diff = np.zeros((n, H + 1, W + 1), dtype=np.int32)  # 2-D difference array: +1/-1 at the corners
    o = owner[keep]
    np.add.at(diff, (o, r0[keep], c0[keep]), 1)
    np.add.at(diff, (o, r0[keep], c1[keep]), -1)
    np.add.at(diff, (o, r1[keep], c0[keep]), -1)
    np.add.at(diff, (o, r1[keep], c1[keep]), 1)
    return diff.cumsum(axis=1).cumsum(axis=2)[:, :H, :W] > 0


def masks_to_boxes(masks: Any) -> np.ndarray:
    """Tight pixel-edge boxes of (N, H, W) masks -> (N, 4) float32; empty masks give NaN rows."""
    m = to_array(masks, "masks").astype(bool)
    if m.ndim != 3:
        raise ValueError(f"`masks` must have shape (N, H, W), got {m.shape}")
    rows, cols = m.any(axis=2), m.any(axis=1)  # (N, H), (N, W)
    h, w = m.shape[1:]
    out = np.full((m.shape[0], 4), np.nan, np.float32)
    ok = rows.any(axis=1)
    out[ok, 0] = np.argmax(cols[ok], axis=1)
    out[ok, 1] = np.argmax(rows[ok], axis=1)
    out[ok, 2] = w - np.argmax(cols[ok, ::-1], axis=1)
    out[ok, 3] = h - np.argmax(rows[ok, ::-1], axis=1)
    return out


def _as_boxes32(boxes: Any, name: str = "boxes") -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"`{name}` must have shape (n, 4) (x0, y0, x1, y1), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite coordinates")
    return arr


def scale_boxes(boxes: Any, from_size: Any, to_size: Any) -> np.ndarray:
    """Rescale (n, 4) pixel-edge boxes from an image of ``from_size`` to one of ``to_size`` (int or (H, W)).

    A multiplication: a whole-image box stays a whole-image box and there-and-back is exact up to rounding.
    Returns (n, 4) float32 (not rounded).
    """
    arr = _as_boxes32(boxes)
    fh, fw = as_size(from_size, "from_size")
    th, tw = as_size(to_size, "to_size")
    return (arr * np.array([tw / fw, th / fh, tw / fw, th / fh], np.float32)).astype(np.float32)


def clip_boxes(boxes: Any, size: Any) -> np.ndarray:
    """Clip (n, 4) pixel-edge boxes to an image of ``size`` = (H, W): 0 <= x <= W, 0 <= y <= H."""
    arr = _as_boxes32(boxes)
    h, w = as_size(size)
    return np.clip(arr, 0.0, np.array([w, h, w, h], np.float32)).astype(np.float32)


def inclusive_to_boxes(boxes: Any) -> np.ndarray:
    """File boxes in 0-based inclusive pixel indices -> pixel-edge ``(xmin, ymin, xmax + 1, ymax + 1)``."""
    return (_as_boxes32(boxes) + np.array([0, 0, 1, 1], np.float32)).astype(np.float32)


def boxes_to_inclusive(boxes: Any) -> np.ndarray:
    """Pixel-edge boxes -> 0-based inclusive pixel indices ``(x0, y0, x1 - 1, y1 - 1)`` (for files)."""
    return (_as_boxes32(boxes) - np.array([0, 0, 1, 1], np.float32)).astype(np.float32)
