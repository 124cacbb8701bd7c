"""Checks of arrays and scalar arguments (NumPy only; see :mod:`hrcam.arrays` for the conventions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

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
