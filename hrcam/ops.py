"""Shared tensor operations: input checks, map normalisation and resizing, target selection, CAMs.

Every public entry point of hrcam funnels its inputs through these helpers, so the conventions of
``DESIGN.md`` live in one place:

* images are NHWC (NDHWC for volumes), ``float32`` in [0, 1] or ``uint8`` in [0, 255] (converted);
* maps are ``float32`` (B, H, W) or (B, D, H, W), min-max scaled per map, constant maps -> zeros;
* targets are ``None`` (predicted class), an int, a sequence of B ints or a (B, k) array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "as_images",
    "check_images",
    "normalize_maps",
    "resize_maps",
    "resolve_targets",
    "class_activation_maps",
    "to_numpy",
]

_FLOAT_RANGE_TOLERANCE = 1e-3


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", type(x).__name__)
    return f"shape {tuple(shape) if shape is not None else '?'} and dtype {dtype}"


def check_images(
    x: Any,
    *,
    name: str = "images",
    rank: int = 4,
    channels: int | None = None,
    spatial_shape: Sequence[int] | None = None,
    value_range: bool = True,
) -> np.ndarray | tf.Tensor:
    """Validate an image batch and return it unchanged (NumPy array or tensor).

    Args:
        x: array-like of rank ``rank`` (4: NHWC, 5: NDHWC).
        name: the argument name used in error messages.
        rank: expected rank, including the batch axis.
        channels: expected channel count, or ``None`` for any.
        spatial_shape: expected (H, W) or (D, H, W); ``None`` entries accept any size.
        value_range: for float inputs, require values in [0, 1] and finite values.

    Raises:
        TypeError: ``x`` is not numeric (strings, objects, complex).
        ValueError: wrong rank, channel count, size, empty batch, NaN/inf, or values outside [0, 1].
    """
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"`{name}` must be a NumPy array or a tensor, got {type(x).__name__}")
    dtype = tf.as_dtype(x.dtype) if not isinstance(x, np.ndarray) else None
    np_dtype = x.dtype if isinstance(x, np.ndarray) else dtype.as_numpy_dtype
    kind = np.dtype(np_dtype).kind
    if kind not in "uif" and np_dtype is not bool:
        raise TypeError(f"`{name}` must hold uint8 or float pixels, got {_describe(x)}")
    shape = tuple(x.shape)
    layout = {4: "(batch, height, width, channels)", 5: "(batch, depth, height, width, channels)"}.get(
        rank, f"rank {rank}"
    )
    if len(shape) != rank:
        hint = ""
        if len(shape) == rank - 1:
            hint = " (a single image? add a batch axis: x[None])"
        raise ValueError(f"`{name}` must have rank {rank} {layout}, got {_describe(x)}{hint}")
    if shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch: {_describe(x)}")
    if channels is not None and shape[-1] is not None and shape[-1] != channels:
        raise ValueError(f"`{name}` must have {channels} channel(s) in the last axis, got {_describe(x)}")
    if spatial_shape is not None:
        for got, want in zip(shape[1:-1], spatial_shape, strict=False):
            if want is not None and got is not None and got != want:
                raise ValueError(
                    f"`{name}` must have spatial size {tuple(spatial_shape)}, got {_describe(x)}"
                )
    if kind == "f" and value_range and (isinstance(x, np.ndarray) or tf.executing_eagerly()):
        arr = np.asarray(x)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or infinite values ({_describe(x)})")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -_FLOAT_RANGE_TOLERANCE or hi > 1 + _FLOAT_RANGE_TOLERANCE:
            raise ValueError(
                f"`{name}` float pixels must be in [0, 1] (pass uint8 for 0-255 data), "
                f"got values in [{lo:.4g}, {hi:.4g}]"
            )
    return x


def as_images(x: Any, **check_kwargs: Any) -> tf.Tensor:
    """Validate with :func:`check_images` and return a float32 tensor in [0, 1].

    ``uint8`` (and other integer) pixels are divided by 255; float pixels are cast to float32.
    """
    x = check_images(x, **check_kwargs)
    x = tf.convert_to_tensor(x)
    if x.dtype.is_integer or x.dtype == tf.bool:
        return tf.cast(x, tf.float32) / 255.0
    return tf.cast(x, tf.float32)


def normalize_maps(maps: tf.Tensor, batch_dims: int = 1) -> tf.Tensor:
    """Min-max scale each map to [0, 1]; constant maps become zeros (never NaN).

    Args:
        maps: float tensor whose first ``batch_dims`` axes index maps, e.g. (B, H, W) with
            ``batch_dims=1`` or (B, k, H, W) with ``batch_dims=2``.
    """
    maps = tf.convert_to_tensor(maps, tf.float32)
    axes = list(range(batch_dims, maps.shape.rank))
    lo = tf.reduce_min(maps, axis=axes, keepdims=True)
    hi = tf.reduce_max(maps, axis=axes, keepdims=True)
    # one fused op, exactly 1.0 at each map's maximum; a constant map gives 0 / 0 -> zeros
    return tf.math.divide_no_nan(maps - lo, hi - lo)


def resize_maps(maps: tf.Tensor, size: Sequence[int], method: str = "bilinear") -> tf.Tensor:
    """Resize maps (N, h, w) -> (N, H, W), or volumes (N, d, h, w) -> (N, D, H, W).

    Half-pixel-centre interpolation (``tf.image.resize``), which matches PIL's bilinear upsampling used
    by the original HR-CAM code. Extra leading axes are allowed: (B, k, h, w) -> (B, k, H, W).
    """
    maps = tf.convert_to_tensor(maps, tf.float32)
    size = [int(s) for s in size]
    n_spatial = len(size)
    if n_spatial not in (2, 3):
        raise ValueError(f"`size` must have 2 (H, W) or 3 (D, H, W) entries, got {size}")
    shape = tf.shape(maps)
    lead = shape[: maps.shape.rank - n_spatial]
    flat = tf.reshape(maps, tf.concat([[-1], shape[maps.shape.rank - n_spatial :]], 0))
    if n_spatial == 2:
        out = tf.image.resize(flat[..., None], size, method=method)[..., 0]
    else:
        # Separable: (N, d, h, w) -> resize (h, w) per slice -> resize depth along (d, H*W).
        n, d = tf.shape(flat)[0], tf.shape(flat)[1]
        hw = tf.image.resize(tf.reshape(flat, [-1, shape[-2], shape[-1], 1]), size[1:], method=method)
        hw = tf.reshape(hw, [n, d, size[1] * size[2], 1])
        out = tf.image.resize(hw, [size[0], size[1] * size[2]], method=method)
        out = tf.reshape(out, [n, size[0], size[1], size[2]])
    return tf.reshape(out, tf.concat([lead, size], 0))


def resolve_targets(
    targets: Any, scores: tf.Tensor, num_classes: int | None = None, name: str = "target_class"
) -> tuple[tf.Tensor, bool]:
    """Turn a target specification into a (B, k) int32 tensor of class indices.

    Args:
        targets: ``None`` (argmax of ``scores``), an int (same class for every image), a sequence of B
            ints, or a (B, k) array-like (k classes per image).
        scores: (B, C) model outputs used for ``None`` and for the batch size.
        num_classes: C; defaults to ``scores.shape[-1]``.

    Returns:
        ``(classes, multi)``: classes (B, k) int32, and whether the caller asked for k classes per
        image (then maps keep the k axis; otherwise it is squeezed).
    """
    scores = tf.convert_to_tensor(scores)
    batch = int(scores.shape[0]) if scores.shape[0] is not None else None
    num_classes = int(num_classes if num_classes is not None else scores.shape[-1])
    if targets is None:
        return tf.cast(tf.argmax(scores, axis=-1), tf.int32)[:, None], False
    if isinstance(targets, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be None, an int, B ints or a (B, k) array, got a bool")
    if isinstance(targets, tf.Tensor) and not tf.executing_eagerly():
        arr = tf.cast(targets, tf.int32)
        if arr.shape.rank == 0:
            arr = tf.fill([tf.shape(scores)[0], 1], arr)
            return arr, False
        return (arr[:, None], False) if arr.shape.rank == 1 else (arr, True)
    arr = np.asarray(targets)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"`{name}` must hold integer class indices, got dtype {arr.dtype}: {targets!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        bad = arr[(arr < 0) | (arr >= num_classes)].ravel()[:5].tolist()
        raise ValueError(f"`{name}` has class indices {bad} out of range [0, {num_classes - 1}]")
    multi = False
    if arr.ndim == 0:
        arr = np.full((batch if batch is not None else 1, 1), int(arr))
    elif arr.ndim == 1:
        if batch is not None and arr.shape[0] == 1 and batch != 1:
            arr = np.repeat(arr, batch)
        if batch is not None and arr.shape[0] != batch:
            raise ValueError(f"`{name}` has {arr.shape[0]} entries but the batch has {batch} images")
        arr = arr[:, None]
    elif arr.ndim == 2:
        if batch is not None and arr.shape[0] != batch:
            raise ValueError(
                f"`{name}` has shape {arr.shape} but the batch has {batch} images (expected (B, k))"
            )
        if arr.shape[1] == 0:
            raise ValueError(f"`{name}` has shape {arr.shape}: k must be at least 1")
        multi = True
    else:
        raise ValueError(f"`{name}` must be None, an int, B ints or a (B, k) array, got shape {arr.shape}")
    return tf.constant(arr, tf.int32), multi


def class_activation_maps(features: tf.Tensor, kernel: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Class activation maps: the dense kernel's class columns applied to the feature channels.

    Args:
        features: (B, *spatial, K) activations before global average pooling.
        kernel: (K, C) weights of the Dense layer after the pooling.
        classes: (B, k) int class indices.

    Returns:
        (B, k, *spatial) float32 raw CAMs (no ReLU, no normalisation, bias ignored, as in Zhou et al.).
    """
    features = tf.cast(features, tf.float32)
    kernel = tf.cast(kernel, tf.float32)
    class_weights = tf.gather(tf.transpose(kernel), classes)  # (B, k, K)
    return tf.einsum("b...c,bkc->bk...", features, class_weights)


def to_numpy(x: Any) -> Any:
    """Tensors (also nested in tuples/dicts) -> NumPy; anything else unchanged."""
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(v) for v in x)
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x.numpy()
    return x
