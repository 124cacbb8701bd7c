"""Targets, min-max scaling and resizing of maps (NumPy only; see :mod:`hrcam.arrays`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hrcam.arrays.checks import describe, to_array


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------
def resolve_targets(
    targets: Any, batch: int, num_classes: int | None, name: str = "target_class"
) -> tuple[np.ndarray, bool]:
    """The one place where user targets are validated: -> ``(classes (batch, k) int32, multi)``.

    Args:
        targets: ``None`` (every image's predicted class), an int (the same class for every image), a
            sequence of ``batch`` ints (or one), or a (batch, k) array-like (k classes per image). A
            negative entry means "this image's predicted class" (resolved in the graph by
            :func:`hrcam.ops.select_classes`).
        batch: number of images.
        num_classes: C, the upper bound for class indices; None skips the upper check.
        name: the argument name used in error messages.

    Returns:
        classes (batch, k) int32 (-1 for "predicted"), and ``multi``: whether the caller asked for k
        classes per image (maps then keep the k axis).

    Raises:
        TypeError: bools, non-integer values. ValueError: indices >= num_classes, wrong lengths/shapes.
    """
    if targets is None:
        return np.full((batch, 1), -1, np.int32), False
    if isinstance(targets, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be None, an int, B ints or a (B, k) array, got a bool")
    arr = to_array(targets, name)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"`{name}` must hold integer class indices, got dtype {arr.dtype}: {targets!r}")
    if arr.size and num_classes is not None and arr.max() >= num_classes:
        bad = arr[arr >= num_classes].ravel()[:5].tolist()
        raise ValueError(
            f"`{name}` has class indices {bad} out of range [0, {num_classes - 1}] (-1 = the predicted class)"
        )
    arr = np.where(arr < 0, -1, arr)
    multi = False
    if arr.ndim == 0:
        arr = np.full((batch, 1), int(arr))
    elif arr.ndim == 1:
        if arr.shape[0] == 1 and batch != 1:
            arr = np.repeat(arr, batch)
        if arr.shape[0] != batch:
            raise ValueError(f"`{name}` has {arr.shape[0]} entries but the batch has {batch} images")
        arr = arr[:, None]
    elif arr.ndim == 2:
        if arr.shape[0] != batch:
            raise ValueError(
                f"`{name}` has shape {arr.shape} but the batch has {batch} images (expected (B, k))"
            )
        if arr.shape[1] == 0:
            raise ValueError(f"`{name}` has shape {arr.shape}: k must be at least 1")
        multi = True
    else:
        raise ValueError(f"`{name}` must be None, an int, B ints or a (B, k) array, got shape {arr.shape}")
    return arr.astype(np.int32), multi


# --------------------------------------------------------------------------------------------------
# Scaling and resizing
# --------------------------------------------------------------------------------------------------
def minmax(maps: Any, batch_dims: int = 1) -> np.ndarray:
    """Min-max scale each map to [0, 1] -> float32; constant maps become zeros (never NaN).

    Args:
        maps: real array whose first ``batch_dims`` axes index maps, e.g. (B, H, W) with ``batch_dims=1``
            or (B, k, H, W) with ``batch_dims=2``.
    """
    x = np.asarray(maps)
    lead = x.shape[:batch_dims]
    flat = x.reshape(int(np.prod(lead, dtype=np.int64)), -1)
    lo = flat.min(axis=1)
    span = (flat.max(axis=1) - lo).astype(np.float32)
    scale = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)  # constant: (x - lo) * 0 = 0
    shape = lead + (1,) * (x.ndim - batch_dims)
    out = np.subtract(x, lo.reshape(shape), dtype=np.float32)
    out *= scale.reshape(shape)
    return out


def interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) float32 linear-interpolation weights, half-pixel centres, edge-clamped (as
    ``tf.image.resize`` bilinear): ``out = m @ x`` resizes the axis of length ``n_in`` to ``n_out``."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).astype(np.float32)
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), lo), 1 - w)
    np.add.at(m, (np.arange(n_out), hi), w)
    return m


def resize_maps(maps: Any, size: Sequence[int]) -> np.ndarray:
    """Bilinear resize, half-pixel centres (``tf.image.resize(..., "bilinear")`` without antialiasing).

    Args:
        maps: real array (..., h, w) for ``size=(H, W)`` or (..., d, h, w) for ``size=(D, H, W)``; any
            leading axes, e.g. (B, h, w), (B, k, h, w), or a single (h, w) map.
        size: (H, W) or (D, H, W) positive ints.

    Returns:
        float32 (..., H, W) / (..., D, H, W). 2-D maps go through ``cv2.resize(INTER_LINEAR)`` (the same
        half-pixel-centre weights, no BLAS threads); volumes are separable: each axis is interpolated in turn.
    """
    size = [int(s) for s in size]
    if len(size) not in (2, 3) or min(size) < 1:
        raise ValueError(f"`size` must be (H, W) or (D, H, W) with positive entries, got {size!r}")
    x = np.asarray(maps, dtype=np.float32)
    if x.ndim < len(size):
        raise ValueError(f"`maps` must have at least {len(size)} axes for size {size}, got {describe(x)}")
    n = len(size)
    if n == 2:
        try:
            import cv2  # ~8x faster than two matrix products per 14x14 -> 224x224 map
        except ImportError:  # pragma: no cover - opencv is a dependency of hrcam
            cv2 = None
        if cv2 is not None and min(x.shape[-2:]) > 0 and max(size) < 32767:
            stack = np.ascontiguousarray(x.reshape(-1, *x.shape[-2:]))
            res = np.empty((stack.shape[0], size[0], size[1]), dtype=np.float32)
            for i in range(stack.shape[0]):
                cv2.resize(stack[i], (size[1], size[0]), dst=res[i], interpolation=cv2.INTER_LINEAR)
            return res.reshape(*x.shape[:-2], size[0], size[1])
    out = x
    for axis, s in zip(range(x.ndim - n, x.ndim), size, strict=True):
        if out.shape[axis] == s:
            continue
        m = interp_matrix(s, out.shape[axis])
        out = np.moveaxis(np.tensordot(m, np.moveaxis(out, axis, -2), axes=([1], [-2])), 0, -2)
        out = np.moveaxis(out, -2, axis)
    return np.ascontiguousarray(out, dtype=np.float32)
