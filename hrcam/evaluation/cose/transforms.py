"""COSE's 13 image transforms, batched in TensorFlow, with their checked names and signed magnitudes.

Geometric (maps should move with the image, *equivariant*): ``translate_x``, ``translate_y`` (up to
:data:`~hrcam.evaluation.cose.warps.MAX_TRANSLATE` = 32 px), ``rotate`` (up to 135 degrees), ``flip_lr``,
``flip_ud``. Photometric (maps should not change, *invariant*): ``brightness``, ``color``, ``contrast``,
``sharpness`` (PIL ``ImageEnhance`` factor ``1 + 0.99 m``), ``autocontrast``, ``equalize`` (per channel,
PIL's algorithm on 256 levels), ``blur`` and ``smooth`` (PIL's ``BLUR`` 5x5 and ``SMOOTH`` 3x3 kernels).

A magnitude is a signed fraction ``m`` in [-1, 1] of the transform's largest amount (COSE samples six
non-zero signed magnitudes per transform; hrcam uses the fixed six :data:`DEFAULT_MAGNITUDES`). Flips,
autocontrast, equalize, blur and smooth take no magnitude: every magnitude gives the same image, so the
evaluation runs them once and counts them once per magnitude.
"""

from __future__ import annotations

import re
from typing import Any

import tensorflow as tf

from hrcam.evaluation.cose import warps

__all__ = [
    "GEOMETRIC",
    "PHOTOMETRIC",
    "TRANSFORMS",
    "MAGNITUDE_FREE",
    "DEFAULT_MAGNITUDES",
    "MAX_ENHANCE",
    "check_transform",
    "check_magnitude",
    "apply_transform",
    "is_geometric",
]

GEOMETRIC = ("translate_x", "translate_y", "rotate", "flip_lr", "flip_ud")
PHOTOMETRIC = (
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "autocontrast",
    "equalize",
    "blur",
    "smooth",
)
TRANSFORMS = GEOMETRIC + PHOTOMETRIC
MAGNITUDE_FREE = frozenset({"flip_lr", "flip_ud", "autocontrast", "equalize", "blur", "smooth"})
DEFAULT_MAGNITUDES = (-1.0, -2.0 / 3.0, -1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
#: enhancement factors are ``1 + MAX_ENHANCE * m`` (COSE: 1 +- [0, 0.99])
MAX_ENHANCE = 0.99

_ALIASES = {
    "translatex": "translate_x",
    "translatey": "translate_y",
    "rotation": "rotate",
    "fliplr": "flip_lr",
    "hflip": "flip_lr",
    "flipud": "flip_ud",
    "vflip": "flip_ud",
    "colour": "color",
    "saturation": "color",
}
_GRAY = (0.299, 0.587, 0.114)  # PIL's "L" conversion
_SMOOTH = [[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]
_BLUR = [[1.0 if i in (0, 4) or j in (0, 4) else 0.0 for j in range(5)] for i in range(5)]


def check_transform(name: Any) -> str:
    """The canonical transform name (case, ``_``/``-`` and COSE's CamelCase spellings are accepted).

    Raises:
        ValueError: unknown transform (the message lists the 13).
    """
    if not isinstance(name, str):
        raise TypeError(f"`transform` must be a transform name (str), got {type(name).__name__}")
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    table = {t.replace("_", ""): t for t in TRANSFORMS} | _ALIASES
    if key not in table:
        raise ValueError(f"unknown `transform` {name!r}; expected one of {', '.join(TRANSFORMS)}")
    return table[key]


def check_magnitude(magnitude: Any, name: str = "magnitude") -> float:
    """A signed magnitude as a float in [-1, 1] (fraction of the transform's largest amount).

    Raises:
        TypeError: not a real number. ValueError: outside [-1, 1] or not finite.
    """
    if (
        isinstance(magnitude, bool)
        or not isinstance(magnitude, (int, float))
        and not hasattr(magnitude, "__float__")
    ):
        raise TypeError(f"`{name}` must be a real number in [-1, 1], got {type(magnitude).__name__}")
    m = float(magnitude)
    if not -1.0 <= m <= 1.0:
        raise ValueError(
            f"`{name}` must be a signed fraction in [-1, 1] of the transform's largest amount "
            f"(translate: {warps.MAX_TRANSLATE:g} px, rotate: {warps.MAX_ROTATE:g} degrees, enhance factors "
            f"1 +- {MAX_ENHANCE}), got {magnitude!r}"
        )
    return m


def is_geometric(name: str) -> bool:
    """Whether the transform moves pixels (its maps are compared after the inverse warp)."""
    return check_transform(name) in GEOMETRIC


def apply_transform(images: Any, name: str, magnitude: float = 1.0) -> tf.Tensor:
    """Apply one COSE transform to a batch.

    Args:
        images: (B, H, W, C) float32 in [0, 1] (C = 1 or 3; ``color`` needs 3).
        name: one of :data:`TRANSFORMS` (see :func:`check_transform`).
        magnitude: signed fraction in [-1, 1] (ignored by :data:`MAGNITUDE_FREE` transforms).

    Returns:
        (B, H, W, C) float32 in [0, 1].
    """
    name = check_transform(name)
    m = check_magnitude(magnitude)
    x = tf.convert_to_tensor(images, tf.float32)
    if x.shape.rank != 4:
        raise ValueError(f"`images` must be (B, H, W, C), got shape {tuple(x.shape)}")
    if name in GEOMETRIC:
        return warps.warp(x, name, m)
    return _photometric(x, name, m)


def _blend(degenerate: tf.Tensor, x: tf.Tensor, factor: float) -> tf.Tensor:
    """PIL's ``ImageEnhance``: ``degenerate + factor * (x - degenerate)``, clipped to [0, 1]."""
    return tf.clip_by_value(degenerate + factor * (x - degenerate), 0.0, 1.0)


def _gray(x: tf.Tensor) -> tf.Tensor:
    if int(x.shape[-1]) == 1:
        return x
    return tf.tensordot(x, tf.constant(_GRAY, tf.float32), axes=[[3], [0]])[..., None]


def _filter(x: tf.Tensor, kernel: list[list[float]]) -> tf.Tensor:
    """Per-channel 2-D filter with edge-mirrored borders (a normalised PIL kernel)."""
    k = tf.constant(kernel, tf.float32)
    k = k / tf.reduce_sum(k)
    r = len(kernel) // 2
    c = int(x.shape[-1])
    k = tf.tile(k[:, :, None, None], [1, 1, c, 1])
    padded = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
    return tf.nn.depthwise_conv2d(padded, k, strides=[1, 1, 1, 1], padding="VALID")


def _autocontrast(x: tf.Tensor) -> tf.Tensor:
    lo = tf.reduce_min(x, axis=[1, 2], keepdims=True)
    hi = tf.reduce_max(x, axis=[1, 2], keepdims=True)
    stretched = tf.math.divide_no_nan(x - lo, hi - lo)
    return tf.where(hi > lo, stretched, x)


def _equalize(x: tf.Tensor) -> tf.Tensor:
    """PIL's ``ImageOps.equalize`` per image and channel, on 256 levels, batched with one bincount."""
    b, h, w, c = (tf.shape(x)[0], int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
    q = tf.cast(tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0), tf.int32)  # (B, H, W, C)
    q = tf.transpose(q, [0, 3, 1, 2])  # (B, C, H, W)
    offsets = tf.reshape(tf.range(b * c) * 256, [b, c, 1, 1])
    hist = tf.math.bincount(tf.reshape(q + offsets, [-1]), minlength=b * c * 256, maxlength=b * c * 256)
    hist = tf.reshape(hist, [b, c, 256])
    top = tf.reduce_max(q, axis=[2, 3])  # the last non-empty level
    last = tf.gather(hist, top, batch_dims=2)
    step = (h * w - last) // 255  # (B, C)
    n = step[..., None] // 2 + tf.math.cumsum(hist, axis=-1, exclusive=True)
    lut = tf.minimum(tf.math.floordiv(n, tf.maximum(step[..., None], 1)), 255)
    lut = tf.where(step[..., None] > 0, lut, tf.range(256)[None, None])
    out = tf.gather(lut, tf.reshape(q, [b, c, h * w]), batch_dims=2)
    out = tf.transpose(tf.reshape(out, [b, c, h, w]), [0, 2, 3, 1])
    return tf.cast(out, tf.float32) / 255.0


def _photometric(x: tf.Tensor, name: str, m: float) -> tf.Tensor:
    factor = 1.0 + MAX_ENHANCE * m
    if name == "brightness":
        return _blend(tf.zeros_like(x), x, factor)
    if name == "color":
        if int(x.shape[-1]) != 3:
            raise ValueError(f"transform 'color' needs RGB images, got {int(x.shape[-1])} channel(s)")
        return _blend(tf.broadcast_to(_gray(x), tf.shape(x)), x, factor)
    if name == "contrast":
        mean = tf.reduce_mean(_gray(x), axis=[1, 2, 3], keepdims=True)
        return _blend(tf.broadcast_to(mean, tf.shape(x)), x, factor)
    if name == "sharpness":
        smooth = _filter(x, _SMOOTH)
        # PIL keeps the one-pixel border of the degenerate image as the original
        inner = tf.pad(tf.ones_like(x[:, 1:-1, 1:-1, :1]), [[0, 0], [1, 1], [1, 1], [0, 0]])
        return _blend(inner * smooth + (1.0 - inner) * x, x, factor)
    if name == "autocontrast":
        return _autocontrast(x)
    if name == "equalize":
        return _equalize(x)
    if name == "blur":
        return tf.clip_by_value(_filter(x, _BLUR), 0.0, 1.0)
    return tf.clip_by_value(_filter(x, _SMOOTH), 0.0, 1.0)  # smooth
