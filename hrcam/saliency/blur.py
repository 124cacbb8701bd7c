"""Gaussian blur of image batches at many sigmas at once, as matrices (Blur IG, the perturbation methods).

A 1-D Gaussian filter with reflected borders (``scipy.ndimage.gaussian_filter1d(mode="reflect",
truncate=4)``, what PAIR's Blur IG uses) is a linear map, an (n, n) matrix; blurring (B, H, W, C) images at
S sigmas is then two batched matrix products, on any device, for any sigma (also far beyond the image size),
differentiable. The matrices are built once per (size, sigmas) in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

__all__ = ["blur_matrix", "blur_images"]


def blur_matrix(size: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """(size, size) float64 ``M`` with ``M @ v`` = ``scipy.ndimage.gaussian_filter1d(v, sigma,
    mode="reflect", truncate=truncate)``; the identity for ``sigma <= 0``."""
    if sigma <= 0:
        return np.eye(size)
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    rows = np.broadcast_to(np.arange(size)[:, None], (size, offsets.size))
    cols = np.mod(rows + offsets[None], 2 * size)
    cols = np.where(cols >= size, 2 * size - 1 - cols, cols)  # reflect: d c b a | a b c d | d c b a
    out = np.zeros((size, size))
    np.add.at(out, (rows, cols), np.broadcast_to(kernel, rows.shape))
    return out


def blur_images(x: tf.Tensor, sigmas: Sequence[float]) -> tf.Tensor:
    """(b, *spatial 2D, C) images blurred at each sigma (pixels, the same along both axes): (b, S, H, W, C).

    ``x`` needs a static height and width.
    """
    h, w = int(x.shape[1]), int(x.shape[2])
    mh = tf.constant(np.stack([blur_matrix(h, s) for s in sigmas]), tf.float32)  # (S, H, H)
    mw = tf.constant(np.stack([blur_matrix(w, s) for s in sigmas]), tf.float32)  # (S, W, W)
    rows = tf.einsum("shi,biwc->bshwc", mh, tf.cast(x, tf.float32))
    return tf.einsum("swj,bshjc->bshwc", mw, rows)
