"""COSE's geometric transforms as batched TensorFlow warps, their inverses and the validity masks.

Translations and rotations are projective warps (``ImageProjectiveTransformV3``, bilinear, zero fill, as
torchvision's ``affine`` with fill 0); flips are exact reversals. ``inverse_warp`` maps a map computed on
the transformed image back onto the original image's grid; ``validity_mask`` is the same round trip applied
to an all-ones image (COSE: the pixels that stayed in frame), 1 where the round trip kept the whole pixel.
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = [
    "MAX_TRANSLATE",
    "MAX_ROTATE",
    "geometric_params",
    "warp",
    "inverse_warp",
    "validity_mask",
]

#: largest translation (pixels) and rotation (degrees) at magnitude 1, as in COSE's TrivialAugmentWide bins
MAX_TRANSLATE = 32.0
MAX_ROTATE = 135.0
#: a round-trip pixel counts as valid when at least this much of it came from inside the frame
_VALID_LEVEL = 1.0 - 1e-3


def geometric_params(name: str, magnitude: float) -> tuple[str, float]:
    """The warp kind and its signed amount: ``("translate_x", pixels)``, ``("rotate", degrees)``,
    ``("flip_lr", 0)``; translations are rounded to whole pixels. The inverse is the same kind with the
    negated amount (flips are self-inverse)."""
    if name in ("translate_x", "translate_y"):  # whole pixels, as torchvision's TrivialAugmentWide
        return name, float(round(float(magnitude) * MAX_TRANSLATE))
    if name == "rotate":
        return name, float(magnitude) * MAX_ROTATE
    return name, 0.0


def _projective(kind: str, amount: float, height: int, width: int) -> tf.Tensor:
    """(1, 8) projective transform mapping output pixel coordinates to input ones."""
    if kind == "translate_x":
        t = [1.0, 0.0, -amount, 0.0, 1.0, 0.0, 0.0, 0.0]
    elif kind == "translate_y":
        t = [1.0, 0.0, 0.0, 0.0, 1.0, -amount, 0.0, 0.0]
    else:  # rotate by `amount` degrees about the image centre (counter-clockwise on screen)
        a = math.radians(amount)
        c, s = math.cos(a), math.sin(a)
        if abs(c) < 1e-12:
            c = 0.0
        if abs(s) < 1e-12:
            s = 0.0
        w1, h1 = width - 1.0, height - 1.0
        x_off = (w1 - (c * w1 - s * h1)) / 2.0
        y_off = (h1 - (s * w1 + c * h1)) / 2.0
        t = [c, -s, x_off, s, c, y_off, 0.0, 0.0]
    return tf.constant([t], tf.float32)


def _warp_nhwc(x: tf.Tensor, kind: str, amount: float) -> tf.Tensor:
    if kind == "flip_lr":
        return tf.reverse(x, axis=[2])
    if kind == "flip_ud":
        return tf.reverse(x, axis=[1])
    if amount == 0.0:
        return x
    h, w = int(x.shape[1]), int(x.shape[2])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=_projective(kind, amount, h, w),
        output_shape=tf.constant([h, w], tf.int32),
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def warp(images: tf.Tensor, name: str, magnitude: float) -> tf.Tensor:
    """Apply the geometric transform ``name`` at signed ``magnitude`` in [-1, 1] to (B, H, W, C) images."""
    kind, amount = geometric_params(name, magnitude)
    return _warp_nhwc(tf.convert_to_tensor(images, tf.float32), kind, amount)


def inverse_warp(maps: tf.Tensor, name: str, magnitude: float) -> tf.Tensor:
    """Map (B, H, W) maps of transformed images back onto the original grid (the inverse warp)."""
    kind, amount = geometric_params(name, magnitude)
    maps = tf.convert_to_tensor(maps, tf.float32)
    return _warp_nhwc(maps[..., None], kind, -amount)[..., 0]


def validity_mask(height: int, width: int, name: str, magnitude: float) -> tf.Tensor:
    """(H, W) float32 in {0, 1}: pixels of the original grid that survive ``warp`` then ``inverse_warp``."""
    ones = tf.ones((1, height, width, 1), tf.float32)
    back = inverse_warp(warp(ones, name, magnitude)[..., 0], name, magnitude)[0]
    return tf.cast(back >= _VALID_LEVEL, tf.float32)
