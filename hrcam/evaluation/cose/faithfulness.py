"""Faithfulness of any map: deletion / insertion AUC (Petsiuk et al. 2018) and the Explainer's masked-image
"saliency" score, batched in TensorFlow.

Deletion replaces pixels with a baseline in order of decreasing saliency and follows the explained class's
probability (lower area = better: the marked pixels are the ones the model needs); insertion starts from the
baseline and puts pixels back in the same order (higher area = better). ``steps`` + 1 points per curve, each a
batched forward pass; ties in a map are broken by pixel index. Baselines: ``"blur"`` (a Gaussian blur of the
image, sigma ``blur_sigma`` px, RISE's choice) or ``"zero"`` (black).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.arrays import check_int, minmax
from hrcam.evaluation.segmentation import saliency_metric
from hrcam.ops import to_numpy

__all__ = ["deletion_insertion", "masked_saliency_score", "blur_images", "BASELINES"]

BASELINES = ("blur", "zero")
ProbFn = Callable[[Any], Any]


def blur_images(images: Any, sigma: float = 5.0) -> tf.Tensor:
    """(B, H, W, C) Gaussian blur (separable, reflected borders, kernel 2 * ceil(2 sigma) + 1, at most the
    image size)."""
    x = tf.convert_to_tensor(images, tf.float32)
    h, w, c = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    r = max(1, min(int(np.ceil(2 * sigma)), (min(h, w) - 1) // 2))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    g = tf.constant(g / g.sum(), tf.float32)
    kx = tf.tile(tf.reshape(g, [1, -1, 1, 1]), [1, 1, c, 1])
    ky = tf.tile(tf.reshape(g, [-1, 1, 1, 1]), [1, 1, c, 1])
    x = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
    x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")


def _check(images: Any, maps: Any, classes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"`images` must be (B, H, W, C), got shape {x.shape}")
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    m = np.asarray(maps, np.float32)
    if m.shape != x.shape[:3]:
        raise ValueError(f"`maps` must be (B, H, W) = {x.shape[:3]} like the images, got shape {m.shape}")
    c = np.asarray(classes)
    if c.shape != (x.shape[0],) or c.dtype.kind not in "iu":
        raise ValueError(
            f"`classes` must be ({x.shape[0]},) ints (the explained class), got {c.shape} {c.dtype}"
        )
    return x, m, c.astype(np.int64)


def _ranks(maps: np.ndarray) -> np.ndarray:
    """(B, H * W) rank of every pixel, 0 = most salient (stable: ties by pixel index)."""
    flat = maps.reshape(maps.shape[0], -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks


def _probs(prob_fn: ProbFn, x: tf.Tensor, classes: np.ndarray, batch_size: int) -> np.ndarray:
    out = []
    for i in range(0, int(x.shape[0]), batch_size):
        p = np.asarray(to_numpy(prob_fn(x[i : i + batch_size])), np.float64)
        if p.ndim != 2 or p.shape[0] != min(batch_size, int(x.shape[0]) - i):
            raise ValueError(f"`prob_fn` must return (B, C) probabilities, got shape {p.shape}")
        out.append(p)
    p = np.concatenate(out)
    return p[np.arange(p.shape[0]), np.tile(classes, p.shape[0] // len(classes))]


def deletion_insertion(
    prob_fn: ProbFn,
    images: Any,
    maps: Any,
    classes: Any,
    steps: int = 16,
    baseline: str = "blur",
    blur_sigma: float = 5.0,
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Deletion and insertion curves and their areas for one map per image.

    Args:
        prob_fn: ``fn(images (n, H, W, C) float32) -> (n, C)`` class probabilities (e.g. a Keras model).
        images: (B, H, W, C) float32 in [0, 1] or uint8.
        maps: (B, H, W) saliency (any range; only the order of the pixels matters).
        classes: (B,) the explained class of each image.
        steps: curve points after the start (each step moves ``H * W / steps`` pixels), >= 1.
        baseline: ``"blur"`` or ``"zero"``.
        batch_size: images per forward pass (the B * (steps + 1) curve images go in chunks).

    Returns:
        ``deletion``, ``insertion``: (B,) areas under the curves (trapezoid over the fraction of pixels in
        [0, 1]); ``deletion_curve``, ``insertion_curve``: (B, steps + 1); ``fractions``: (steps + 1,).
    """
    x, m, cls = _check(images, maps, classes)
    steps = check_int(steps, "steps", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    if baseline not in BASELINES:
        raise ValueError(f"`baseline` must be one of {BASELINES}, got {baseline!r}")
    b, h, w = m.shape
    xt = tf.constant(x)
    base = blur_images(xt, blur_sigma) if baseline == "blur" else tf.zeros_like(xt)
    ranks = tf.constant(_ranks(m).reshape(b, h, w, 1))
    fractions = np.linspace(0.0, 1.0, steps + 1)
    curves = {}
    for name in ("deletion", "insertion"):
        start, end = (xt, base) if name == "deletion" else (base, xt)
        batches = []
        for f in fractions:
            moved = tf.cast(ranks < int(round(f * h * w)), tf.float32)
            batches.append(start * (1.0 - moved) + end * moved)
        curve = _probs(prob_fn, tf.concat(batches, 0), cls, batch_size)
        curves[name] = curve.reshape(steps + 1, b).T
    out = {f"{k}_curve": v for k, v in curves.items()}
    for k, v in curves.items():
        out[k] = (
            np.trapezoid(v, fractions, axis=1) if hasattr(np, "trapezoid") else np.trapz(v, fractions, axis=1)
        )
    out["fractions"] = fractions
    return out


def masked_saliency_score(
    prob_fn: ProbFn, images: Any, maps: Any, classes: Any, batch_size: int = 64
) -> np.ndarray:
    """The Explainer's "saliency" metric for any map: ``log(max(mean(m), 0.05)) - log(p_c(m * x))`` with
    ``m`` the min-max normalised map (:func:`hrcam.evaluation.segmentation.saliency_metric`); lower is
    better. Returns (B,) float64."""
    x, m, cls = _check(images, maps, classes)
    m = minmax(m)
    masked = tf.constant(x * m[..., None])
    probs = np.concatenate(
        [
            np.asarray(to_numpy(prob_fn(masked[i : i + batch_size])), np.float64)
            for i in range(0, len(x), batch_size)
        ]
    )
    return saliency_metric(m, probs, cls)
