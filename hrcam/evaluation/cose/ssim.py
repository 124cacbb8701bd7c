"""Masked SSIM with a 5-pixel uniform window, batched in TensorFlow (COSE's similarity).

Without a mask it equals ``skimage.metrics.structural_similarity(a, b, win_size=5, data_range=R)`` (uniform
window, K1 = 0.01, K2 = 0.03, sample covariance, the mean over the SSIM map with a 2-pixel border cropped):
the window means are a 5x5 VALID average pool, so the SSIM map covers exactly the pixels skimage averages.
With a mask (COSE's validity mask after an inverse warp), the mask is eroded 5x5 (a window counts only when
all its pixels are valid) and the SSIM map is averaged inside it. ``data_range`` defaults to the larger of
the two maps' ranges (1 when both maps are constant, where any positive range gives the same score).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

__all__ = ["masked_ssim", "ssim_map", "WIN_SIZE"]

WIN_SIZE = 5
_K1, _K2 = 0.01, 0.03


def _as_maps(x: Any, name: str) -> tf.Tensor:
    t = tf.convert_to_tensor(x)
    if not (t.dtype.is_floating or t.dtype.is_integer or t.dtype == tf.bool):
        raise TypeError(f"`{name}` must be numeric (B, H, W) maps, got dtype {t.dtype.name}")
    t = tf.cast(t, tf.float32)
    if t.shape.rank != 3:
        raise ValueError(f"`{name}` must be (B, H, W) maps, got shape {tuple(t.shape)}")
    return t


def ssim_map(a: Any, b: Any, data_range: Any = None, win_size: int = WIN_SIZE) -> tf.Tensor:
    """(B, H - w + 1, W - w + 1) local SSIM of (B, H, W) maps (the centres of full windows).

    Args:
        a, b: (B, H, W) maps of the same shape.
        data_range: scalar or (B,) ranges; ``None`` = per pair ``max(ptp(a), ptp(b))`` (1 where that is 0).
        win_size: odd window side (>= 3, at most H and W).
    """
    a, b = _as_maps(a, "a"), _as_maps(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"`win_size` must be an odd int >= 3, got {win_size!r}")
    if min(int(a.shape[1]), int(a.shape[2])) < win_size:
        raise ValueError(
            f"maps of size {tuple(a.shape[1:])} are smaller than the {win_size}x{win_size} window"
        )
    if data_range is None:
        ptp_a = tf.reduce_max(a, axis=[1, 2]) - tf.reduce_min(a, axis=[1, 2])
        ptp_b = tf.reduce_max(b, axis=[1, 2]) - tf.reduce_min(b, axis=[1, 2])
        data_range = tf.maximum(ptp_a, ptp_b)
        data_range = tf.where(data_range > 0, data_range, tf.ones_like(data_range))
    r = tf.reshape(tf.cast(data_range, tf.float32), [-1, 1, 1])
    # float64 moments: skimage computes in float64, and var = E[x^2] - E[x]^2 cancels badly in float32
    a64, b64 = tf.cast(a, tf.float64), tf.cast(b, tf.float64)
    stack = tf.stack([a64, b64, a64 * a64, b64 * b64, a64 * b64], axis=-1)  # (B, H, W, 5)
    means = tf.nn.avg_pool2d(stack, win_size, strides=1, padding="VALID")
    ux, uy, uxx, uyy, uxy = tf.unstack(means, axis=-1)
    n = float(win_size * win_size)
    cov_norm = n / (n - 1.0)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    r = tf.cast(r, tf.float64)
    c1, c2 = (_K1 * r) ** 2, (_K2 * r) ** 2
    s = ((2.0 * ux * uy + c1) * (2.0 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return tf.cast(s, tf.float32)


def masked_ssim(
    a: Any, b: Any, mask: Any = None, data_range: Any = None, win_size: int = WIN_SIZE
) -> tf.Tensor:
    """(B,) mean SSIM of map pairs, inside an optional validity mask.

    Args:
        a, b: (B, H, W) maps (e.g. the original image's map and the transformed image's map mapped back).
        mask: ``None`` (every pixel), or (H, W) / (B, H, W) validity in {0, 1} (values < 1 count as invalid);
            eroded by the window before averaging.
        data_range, win_size: see :func:`ssim_map`.

    Returns:
        (B,) float32; NaN where the eroded mask is empty.
    """
    s = ssim_map(a, b, data_range=data_range, win_size=win_size)
    if mask is None:
        return tf.reduce_mean(s, axis=[1, 2])
    m = tf.cast(tf.convert_to_tensor(mask), tf.float32)
    if m.shape.rank == 2:
        m = m[None]
    if m.shape.rank != 3 or tuple(m.shape[1:]) != tuple(a.shape[1:] if hasattr(a, "shape") else ()):
        raise ValueError(f"`mask` must be (H, W) or (B, H, W) like the maps, got shape {tuple(m.shape)}")
    valid = tf.cast(m >= 1.0, tf.float32)
    eroded = -tf.nn.max_pool2d(-valid[..., None], win_size, strides=1, padding="VALID")[..., 0]
    eroded = tf.broadcast_to(eroded, tf.shape(s))
    total = tf.reduce_sum(eroded, axis=[1, 2])
    mean = tf.math.divide_no_nan(tf.reduce_sum(s * eroded, axis=[1, 2]), total)
    return tf.where(total > 0, mean, tf.fill(tf.shape(mean), float("nan")))
