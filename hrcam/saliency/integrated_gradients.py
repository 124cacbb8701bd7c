"""Integrated Gradients (Sundararajan et al. 2017): gradients integrated along a path from a baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod, reduce_channels
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.gradients_util import class_scores, num_targets, stacked_gradients

__all__ = ["IntegratedGradients", "check_baseline"]


def check_baseline(baseline: Any, rank: int, input_shape: tuple | None) -> np.ndarray:
    """A path's baseline as float32: a scalar (``"black"`` / ``"zeros"`` 0, ``"white"`` / ``"ones"`` 1, a
    float) or one image (H, W, C) / (1, H, W, C) (3D: (D, H, W, C)) in [0, 1] (uint8 divided by 255).

    Args:
        baseline: the option's value. rank: the images' rank (4: 2D, 5: 3D). input_shape: the model's
            (None, *spatial, C), checked against an image baseline (``None``: unknown).

    Raises:
        ValueError / TypeError naming ``baseline``.
    """
    if isinstance(baseline, str):
        named = {"black": 0.0, "zeros": 0.0, "white": 1.0, "ones": 1.0}
        if baseline.lower() not in named:
            raise ValueError(f"`baseline` must be 'black', 'white', a float or an image, got {baseline!r}")
        return np.float32(named[baseline.lower()])
    arr = np.asarray(baseline)
    if arr.dtype.kind not in "uif":
        raise TypeError(f"`baseline` must be a number or an image array, got {type(baseline).__name__}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    item_rank = rank - 1
    if arr.ndim == item_rank + 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim not in (0, item_rank):
        raise ValueError(
            f"`baseline` must be a scalar or one image of rank {item_rank} (no batch axis), "
            f"got shape {arr.shape}"
        )
    if arr.ndim and input_shape is not None:
        want = tuple(input_shape[1:])
        if any(w is not None and w != g for w, g in zip(want, arr.shape, strict=True)):
            raise ValueError(f"`baseline` has shape {arr.shape}, the model takes images of shape {want}")
    if not np.all(np.isfinite(arr)) or arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise ValueError("`baseline` values must be finite and in [0, 1] like the images")
    return arr


class IntegratedGradients(SaliencyMethod):
    """Integrated Gradients: ``(x - x') * integral_0^1 dS_c/dx (x' + a (x - x')) da`` by a Riemann sum.

    The ``steps`` points of each path are one batch (``batch_size // steps`` images per compiled call, at
    least one). With ``channel_reduce="sum"`` (default) and ``normalize=False`` the map sums to about
    ``S_c(x) - S_c(x')`` (completeness; the error shrinks as ``steps`` grows). ``preds`` and the predicted
    class come from the path's end point, the image itself, so no extra forward pass is needed.

    Args:
        **kwargs: the base's options (``mode``, ``batch_size``, ``normalize``, ``use_logits``, ...), see
            :class:`~hrcam.saliency.base.SaliencyMethod`.
        steps: gradient evaluations along the path; the last one is the image itself.
        baseline: ``"black"`` / ``0.0`` (default), ``"white"`` (1.0), any float in [0, 1], or one image
            (H, W, C) / (1, H, W, C) (3D: (D, H, W, C)) in [0, 1].
        channel_reduce: see :class:`~hrcam.saliency.gradients.Gradients` (default ``"sum"``).
        rule: ``"trapezoid"`` (default: ``a = 0, 1/(n-1), ..., 1`` with half weights at the ends; on a small
            ReLU CNN it reaches 1% completeness with about 4x fewer steps than the right sum) or ``"right"``
            (Sundararajan et al.: ``a = 1/n, 2/n, ..., 1``; exact for bias-free ReLU networks from a zero
            baseline).
    """

    name = "IntegratedGradients"
    default_channel_reduce = "sum"

    options = {"steps": 50, "baseline": 0.0, "rule": "trapezoid"}

    def _setup(self, layer: Any) -> None:
        steps, rule = self.steps, self.rule
        self.steps = self.samples_per_image = check_positive_int(steps, "steps")
        if rule not in ("right", "trapezoid"):
            raise ValueError(f"`rule` must be 'right' or 'trapezoid', got {rule!r}")
        if rule == "trapezoid" and steps < 2:
            raise ValueError(f"`steps` must be >= 2 for the trapezoid rule, got {steps!r}")
        self.baseline = check_baseline(self.baseline, self.rank, self._input_shape)
        if rule == "right":
            alphas = np.arange(1, self.steps + 1, dtype=np.float64) / self.steps
            weights = np.full(self.steps, 1.0 / self.steps)
        else:
            alphas = np.linspace(0.0, 1.0, self.steps, dtype=np.float64)
            weights = np.full(self.steps, 1.0 / (self.steps - 1))
            weights[[0, -1]] *= 0.5
        self._alphas = alphas.astype(np.float32)
        self._weights = weights.astype(np.float32)

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        n = self.steps
        b = tf.shape(x)[0]
        item = tf.shape(x)[1:]
        base = tf.broadcast_to(tf.constant(self.baseline), tf.shape(x))
        delta = x - base
        shape_alpha = [1, n] + [1] * (x.shape.rank - 1)
        alphas = tf.reshape(tf.constant(self._alphas), shape_alpha)
        path = tf.reshape(base[:, None] + alphas * delta[:, None], tf.concat([[b * n], item], 0))
        k = num_targets(classes)
        with tf.GradientTape(watch_accessed_variables=False, persistent=k > 1) as tape:
            tape.watch(path)
            fwd = self._forward(path)
            preds = tf.reshape(fwd.preds, [b, n, -1])[:, -1]  # the end point alpha = 1 is x itself
            classes = self._select_classes(preds, classes)
            targets = class_scores(fwd.scores, tf.repeat(classes, n, axis=0))
        grads = stacked_gradients(tape, targets, path)  # (b * n, k, *spatial, C)
        del tape
        grads = tf.reshape(grads, tf.concat([[b, n], tf.shape(grads)[1:]], 0))
        w = tf.reshape(tf.constant(self._weights), [1, n] + [1] * (grads.shape.rank - 2))
        avg = tf.reduce_sum(grads * w, axis=1)  # (b, k, *spatial, C)
        return preds, reduce_channels(avg * delta[:, None], self.channel_reduce)
