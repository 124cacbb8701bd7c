"""Loss terms of the Explainer (NN-Explainer's ``loss.py``) and of Real-Time Saliency (``rtsal_loss.py``).

Masks are (B, H, W) in [0, 1]; logits (B, C); targets (B, C) multi-hot. Every term is a scalar float32.

Explainer: ``L = L_c + l_e * L_e + l_tv * (TV(m) + TV(n)) + l_a * L_area + l_tot * mean(m) + l_nc * mean(n)``.
Real-Time Saliency (Dabkowski & Gal): ``L = 10 TV2(m) + mean(m) + L_pres + 5 L_destr ** 0.3``.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

__all__ = [
    "total_variation",
    "entropy_loss",
    "area_loss",
    "classification_loss",
    "preservation_loss",
    "destruction_loss",
    "gaussian_blur",
    "alternative_images",
]


def total_variation(masks: tf.Tensor, squared: bool = False) -> tf.Tensor:
    """mean over (B, H, W) of |m[i, j] - m[i, j+1]| + |m[i, j] - m[i+1, j]|, the right/bottom neighbour of
    the last column/row taken with reflect padding (so the last column's difference is with the one before
    it). ``squared=True`` squares the differences (Real-Time Saliency's TV)."""
    m = tf.convert_to_tensor(masks, tf.float32)
    right = tf.concat([m[:, :, 1:], m[:, :, -2:-1]], axis=2)  # reflect: m[W] := m[W - 2]
    down = tf.concat([m[:, 1:, :], m[:, -2:-1, :]], axis=1)
    dx, dy = right - m, down - m
    if squared:
        return tf.reduce_mean(tf.square(dx) + tf.square(dy))
    return tf.reduce_mean(tf.abs(dx) + tf.abs(dy))


def entropy_loss(logits: tf.Tensor) -> tf.Tensor:
    """``-mean_{b,c}(-p log p)`` with p = softmax over classes clamped >= 1e-16: minus the entropy / C, so
    minimising it makes the classifier maximally unsure on the masked-out image."""
    p = tf.maximum(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), 1e-16)
    return tf.reduce_mean(p * tf.math.log(p))


def area_loss(
    class_masks: tf.Tensor, targets: tf.Tensor, min_area: float = 0.05, max_area: float = 0.3
) -> tf.Tensor:
    """The sorted-area loss (``ClassMaskAreaLoss``).

    For each image b and target class c, the mask values sigma(S_c) sorted in descending order (s) should be
    1 on the first ``floor(N * min_area)`` pixels and 0 after the first ``floor(N * max_area)``:
    ``l_bc = mean_pixels(relu(t_min - s) + relu(s - t_max))``; summed over target classes, then averaged
    over the batch.

    Args:
        class_masks: (B, H, W, C) per-class masks in [0, 1].
        targets: (B, C) multi-hot.
    """
    if not 0 <= min_area <= max_area <= 1:
        raise ValueError(f"need 0 <= min_area <= max_area <= 1, got {min_area!r}, {max_area!r}")
    s = tf.convert_to_tensor(class_masks, tf.float32)
    c = tf.shape(s)[-1]
    n = int(s.shape[1]) * int(s.shape[2])
    s = tf.transpose(tf.reshape(s, [-1, n, c]), [0, 2, 1])  # (B, C, N)
    s = tf.sort(s, axis=-1, direction="DESCENDING")
    idx = tf.range(n)
    t_min = tf.cast(idx < int(math.floor(n * min_area)), tf.float32)
    t_max = tf.cast(idx < int(math.floor(n * max_area)), tf.float32)
    per = tf.reduce_mean(tf.nn.relu(t_min - s) + tf.nn.relu(s - t_max), axis=-1)  # (B, C)
    return tf.reduce_mean(tf.reduce_sum(per * tf.cast(targets, tf.float32), axis=-1))


def classification_loss(logits: tf.Tensor, targets: tf.Tensor, kind: str = "bce") -> tf.Tensor:
    """BCE-with-logits averaged over B x C (``"bce"``), or softmax cross-entropy (``"ce"``,
    one-hot targets)."""
    y = tf.cast(targets, tf.float32)
    logits = tf.cast(logits, tf.float32)
    if kind == "bce":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    if kind == "ce":
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
    raise ValueError(f"`kind` must be 'bce' or 'ce', got {kind!r}")


def _mean_over_targets(values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    t = tf.cast(targets, tf.float32)
    return tf.reduce_sum(values * t) / tf.maximum(tf.reduce_sum(t), 1.0)


def preservation_loss(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """``-mean_{(b, c in targets)} log sigmoid(f(phi(x, m))_c)``."""
    return _mean_over_targets(-tf.math.log_sigmoid(tf.cast(logits, tf.float32)), targets)


def destruction_loss(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """``mean_{(b, c in targets)} sigmoid(f(phi(x, 1 - m))_c)`` (the power 0.3 is applied by the caller)."""
    return _mean_over_targets(tf.sigmoid(tf.cast(logits, tf.float32)), targets)


def gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur (kernel radius 3 sigma, reflect padding) of (B, H, W, C) images."""
    h, w = int(images.shape[1]), int(images.shape[2])
    radius = max(1, min(int(math.ceil(3 * sigma)), h - 1, w - 1))  # reflect padding needs radius < size
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k = tf.constant(k / k.sum(), tf.float32)
    ch = int(images.shape[-1])
    img = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, ch, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, ch, 1])
    img = tf.nn.depthwise_conv2d(img, kx, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(img, ky, [1, 1, 1, 1], "VALID")


def alternative_images(
    images: tf.Tensor, seed: tf.Tensor, noise_std: float = 0.11, blur_sigma: float = 10.0
) -> tf.Tensor:
    """Real-Time Saliency's alternative image, chosen per batch at random (p = 0.5 each):

    * a Gaussian blur of the images (sigma ``blur_sigma`` pixels; 10 at 224 px in the original);
    * a random colour: 0.5 + a per-(image, channel) offset U(-0.33, 0.33) + pixel noise N(0, ``noise_std``),
      clipped to [0, 1].

    NN-Explainer's colour branch calls ``zeros_like(x).normal_(0.11)``, i.e. mean 0.11 and std **1** (torch's
    first argument is the mean); the intended (upstream pytorch-saliency) noise is std 0.11, which is what is
    used here. Values are in hrcam's pixel space [0, 1] (the classifier normalises inside), not in the
    original's normalised space.

    Args:
        images: (B, H, W, C) in [0, 1].
        seed: (2,) int32 seed of the stateless random ops.
    """
    x = tf.convert_to_tensor(images, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    shape = tf.shape(x)
    offset = tf.random.stateless_uniform([shape[0], 1, 1, shape[3]], seeds[0], -0.33, 0.33)
    noise = tf.random.stateless_normal(shape, seeds[1], stddev=noise_std)
    colour = tf.clip_by_value(0.5 + offset + noise, 0.0, 1.0)
    use_blur = tf.random.stateless_uniform([], seeds[2]) < 0.5
    return tf.cond(use_blur, lambda: gaussian_blur(x, blur_sigma), lambda: colour)
