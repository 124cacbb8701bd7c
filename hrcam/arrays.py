"""NumPy-only array conventions: image/map/mask checks, targets, min-max scaling, resizing and boxes.

This module never imports TensorFlow or Keras (worker processes and the NumPy-only evaluation import it);
:mod:`hrcam.ops` is the TensorFlow layer on top and reuses these checks and their messages. Tensors are
accepted wherever an array is: anything with ``.shape``/``.dtype`` is checked without a conversion, and an
eager tensor is converted with its ``.numpy()`` only where values are needed.

Conventions (``DESIGN.md``):

* **Images**: NHWC (NDHWC for volumes), ``uint8`` in [0, 255], float in [0, 1] (a tolerance of
  :data:`FLOAT_RANGE_TOLERANCE`), or ``bool`` meaning 0/1 values.
* **Maps**: float32 (B, H, W) (or with more leading axes); min-max scaling per map, constant maps -> zeros.
* **Targets**: ``None`` (the predicted class), an int, B ints, or (B, k); a negative entry means "this
  image's predicted class" (:func:`resolve_targets`).
* **Boxes**, the one convention inside hrcam: float ``(x0, y0, x1, y1)`` in **pixel-edge** coordinates.
  Pixel (row r, column c) covers ``[c, c + 1) x [r, r + 1)``; a box covers the pixels whose centres lie in
  ``[x0, x1) x [y0, y1)``; its area is ``(x1 - x0) * (y1 - y0)``. The tight box of columns c0..c1 and rows
  r0..r1 (inclusive) is ``(c0, r0, c1 + 1, r1 + 1)``, so an integer box is the slice ``[y0:y1, x0:x1]``
  and a box over a whole W x H image is ``(0, 0, W, H)``. Rescaling is a multiplication
  (:func:`scale_boxes`). Files that store inclusive pixel indices (ImageNet / PASCAL VOC XML) are converted
  at reading and writing only (:func:`inclusive_to_boxes`, :func:`boxes_to_inclusive`).
  One image's boxes are an (n, 4) array; a batch is a list of B such arrays (n may be 0), or an
  array (B, 4) (one box each) or (B, n, 4).
* **Sizes** are ``(height, width)`` (boxes list x before y).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

__all__ = [
    "FLOAT_RANGE_TOLERANCE",
    "describe",
    "to_array",
    "check_images",
    "check_pixels",
    "check_maps",
    "check_masks",
    "check_real",
    "check_choice",
    "check_int",
    "check_optional_int",
    "as_size",
    "resolve_targets",
    "minmax",
    "interp_matrix",
    "resize_maps",
    "check_boxes",
    "batch_boxes",
    "raster_ranges",
    "boxes_to_masks",
    "masks_to_boxes",
    "scale_boxes",
    "clip_boxes",
    "inclusive_to_boxes",
    "boxes_to_inclusive",
]

#: Slack allowed on float pixels outside [0, 1] (rounding of upstream conversions).
FLOAT_RANGE_TOLERANCE = 1e-3


# --------------------------------------------------------------------------------------------------
# Generic checks
# --------------------------------------------------------------------------------------------------
def describe(x: Any) -> str:
    """``"shape (...) and dtype ..."`` of an array-like, for error messages."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", type(x).__name__)
    return f"shape {tuple(shape) if shape is not None else '?'} and dtype {dtype}"


def _np_dtype(dtype: Any) -> np.dtype | None:
    """NumPy dtype of a NumPy / TensorFlow / Keras dtype (without importing either); None if unknown."""
    dtype = getattr(dtype, "as_numpy_dtype", dtype)  # tf.DType
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def to_array(x: Any, name: str) -> np.ndarray:
    """Array-likes and eager tensors -> NumPy (never imports a framework).

    Raises:
        TypeError: ``x`` is not array-like (naming ``name``).
    """
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy") and callable(x.numpy):  # an eager tf.Tensor / Variable, a torch tensor
        x = x.numpy()
    elif not isinstance(x, (list, tuple, Real, np.generic)) and not hasattr(x, "__array__"):
        raise TypeError(f"`{name}` must be a NumPy array or a tensor, got {type(x).__name__}")
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as err:
        raise TypeError(f"`{name}` must be array-like, got {type(x).__name__}: {err}") from None


def check_real(
    name: str, value: Any, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False
) -> float:
    """A finite real number in [lo, hi] (open ends on request) -> float; bools are rejected."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok or math.isnan(v):
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"`{name}` must be in {interval}, got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Sequence[str], hint: str = "") -> str:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}{hint}")
    return value


def check_int(value: Any, name: str, lo: int, hi: int | None = None) -> int:
    """An int in [lo, hi] (``hi`` None: no upper bound) -> int; bools are rejected."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"`{name}` must be in {rng}, got {value}")
    return int(value)


def check_optional_int(name: str, value: Any, minimum: int) -> int | None:
    """None, or an int >= ``minimum`` (bools rejected)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be None or an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be None or an int >= {minimum}, got {value!r}")
    return int(value)


def as_size(size: Any, name: str = "size") -> tuple[int, int]:
    """``int`` or ``(height, width)`` -> ``(height, width)`` of positive ints."""
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an int or (height, width), got {size!r}")
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an int or (height, width), got {size!r}") from None
    if h <= 0 or w <= 0 or (h, w) != tuple(float(s) for s in size):
        raise ValueError(f"`{name}` must be positive integers (height, width), got {size!r}")
    return h, w


# --------------------------------------------------------------------------------------------------
# Images, maps, masks
# --------------------------------------------------------------------------------------------------
def _value_range(arr: np.ndarray, name: str) -> tuple[float, float]:
    lo, hi = float(arr.min()), float(arr.max())  # min/max propagate NaN: one pass less than isfinite
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"`{name}` contains NaN or infinite values ({describe(arr)})")
    return lo, hi


def _float_range_error(name: str, lo: float, hi: float) -> ValueError:
    return ValueError(
        f"`{name}` float pixels must be in [0, 1] (pass uint8 for 0-255 data), "
        f"got values in [{lo:.4g}, {hi:.4g}]"
    )


def check_images(
    x: Any,
    *,
    name: str = "images",
    rank: int = 4,
    channels: int | None = None,
    spatial_shape: Sequence[int | None] | None = None,
    value_range: bool = True,
) -> Any:
    """Validate an image batch and return it unchanged (a NumPy array, or a tensor left as it came).

    Args:
        x: array-like of rank ``rank`` (4: NHWC, 5: NDHWC): uint8 [0, 255] (or other integers), float in
            [0, 1], or bool (0/1 values). Lists are converted to NumPy.
        name: the argument name used in error messages.
        rank: expected rank, including the batch axis.
        channels: expected channel count, or ``None`` for any.
        spatial_shape: expected (H, W) or (D, H, W); ``None`` entries accept any size.
        value_range: for float inputs whose values are available (NumPy, eager tensors), require finite
            values in [0, 1].

    Raises:
        TypeError: ``x`` is not numeric (strings, objects, complex).
        ValueError: wrong rank, channel count, size, empty batch, NaN/inf, or values outside [0, 1].
    """
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"`{name}` must be a NumPy array or a tensor, got {type(x).__name__}")
    dt = _np_dtype(x.dtype)
    if dt is None or dt.kind not in "buif":
        raise TypeError(f"`{name}` must hold uint8 or float pixels, got {describe(x)}")
    shape = tuple(x.shape)
    layout = {4: "(batch, height, width, channels)", 5: "(batch, depth, height, width, channels)"}.get(
        rank, f"rank {rank}"
    )
    if len(shape) != rank:
        hint = " (a single image? add a batch axis: x[None])" if len(shape) == rank - 1 else ""
        raise ValueError(f"`{name}` must have rank {rank} {layout}, got {describe(x)}{hint}")
    if shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch: {describe(x)}")
    if channels is not None and shape[-1] is not None and shape[-1] != channels:
        raise ValueError(f"`{name}` must have {channels} channel(s) in the last axis, got {describe(x)}")
    if spatial_shape is not None:
        for got, want in zip(shape[1:-1], spatial_shape, strict=False):
            if want is not None and got is not None and got != want:
                raise ValueError(f"`{name}` must have spatial size {tuple(spatial_shape)}, got {describe(x)}")
    if dt.kind == "f" and value_range:
        arr = x if isinstance(x, np.ndarray) else None
        if arr is None and hasattr(x, "numpy"):
            try:
                arr = np.asarray(x.numpy())  # eager tensors; symbolic ones (in a graph) are skipped
            except Exception:  # noqa: BLE001 - any framework's "no value here" error
                arr = None
        if arr is not None and arr.size:
            lo, hi = _value_range(arr, name)
            if lo < -FLOAT_RANGE_TOLERANCE or hi > 1 + FLOAT_RANGE_TOLERANCE:
                raise _float_range_error(name, lo, hi)
    return x


def check_pixels(x: Any, name: str, ndim: int) -> np.ndarray:
    """Validate (..., H, W, C) pixels of rank ``ndim`` for NumPy code; return them unconverted.

    Integer pixels stay integers (checked to lie in [0, 255]), bool pixels become float32 0/1, and float
    pixels become float32, clipped to [0, 1] when within the tolerance. The conversion of integers to
    float32 [0, 1] is left to the caller (e.g. chunk by chunk, so a large batch is never converted whole).
    """
    x = to_array(x, name)
    if x.dtype.kind not in "buif":
        raise TypeError(f"`{name}` must hold uint8 or float pixels, got {describe(x)}")
    if x.ndim != ndim:
        layout = "(height, width, channels)" if ndim == 3 else "(batch, height, width, channels)"
        raise ValueError(f"`{name}` must have rank {ndim} {layout}, got {describe(x)}")
    if x.size == 0:
        raise ValueError(f"`{name}` is empty: {describe(x)}")
    if x.dtype == bool:
        return x.astype(np.float32)
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "ui":
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"`{name}` integer pixels must be in [0, 255], got values in [{lo}, {hi}]")
        return x
    x = x.astype(np.float32, copy=False)
    lo, hi = _value_range(x, name)
    if lo < -FLOAT_RANGE_TOLERANCE or hi > 1 + FLOAT_RANGE_TOLERANCE:
        raise _float_range_error(name, lo, hi)
    return np.clip(x, 0.0, 1.0) if lo < 0 or hi > 1 else x


def check_maps(
    x: Any, name: str = "maps", ndim: int = 3, *, unit: bool = False, allow_bool: bool = True
) -> np.ndarray:
    """Finite real maps of ``ndim`` dimensions -> float32 NumPy.

    Args:
        x: array-like, e.g. (B, H, W) for ``ndim=3``; bool is read as 0/1 when ``allow_bool``.
        unit: also require values in [0, 1].

    Raises:
        TypeError: not real numbers. ValueError: wrong rank, empty, NaN/inf, or outside [0, 1] with ``unit``.
    """
    arr = to_array(x, name)
    if arr.dtype == bool and allow_bool:
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "uif":
        raise TypeError(f"`{name}` must hold real numbers, got {describe(arr)}")
    if arr.ndim != ndim:
        if ndim == 3:
            hint = " (a single map? add a batch axis: m[None])" if arr.ndim == 2 else ""
            raise ValueError(f"`{name}` must have shape (batch, height, width), got {describe(arr)}{hint}")
        raise ValueError(f"`{name}` must have {ndim} dimensions, got {describe(arr)}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty: {describe(arr)}")
    arr = arr.astype(np.float32, copy=False)
    lo, hi = _value_range(arr, name)
    if unit and (lo < 0 or hi > 1):
        raise ValueError(
            f"`{name}` must be in [0, 1] (min-max normalise CAMs first), got values in [{lo:.4g}, {hi:.4g}]"
        )
    return arr


def check_masks(x: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean or 0/1 masks of exactly ``shape`` -> bool NumPy."""
    arr = to_array(x, name)
    if arr.dtype.kind not in "buif":
        raise TypeError(f"`{name}` must be a boolean or 0/1 mask array, got {describe(arr)}")
    if arr.shape != tuple(shape):
        raise ValueError(f"`{name}` must have the maps' shape {tuple(shape)}, got {describe(arr)}")
    return arr != 0


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
