"""Blur IG (Xu et al. 2020): gradients integrated along a path of ever stronger Gaussian blurs."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod, reduce_channels
from hrcam.saliency.blur import blur_images
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.gradients_util import class_scores, num_targets, stacked_gradients

__all__ = ["BlurIG"]


class BlurIG(SaliencyMethod):
    """Blur IG: ``-sum_i (sigma_{i+1} - sigma_i) dS_c/dx(x_i) * dx_i/dsigma`` with ``x_i`` the image blurred
    at ``sigma_i = i * max_sigma / steps``, ``i = 0 .. steps - 1`` (PAIR's schedule and defaults;
    ``sqrt=True``: PAIR's ``sigma_i = sqrt(i * max_sigma / steps)``, ending at ``sqrt(max_sigma)``), and
    ``dx/dsigma`` by a forward difference of ``grad_step``.

    With ``channel_reduce="sum"`` (default) and ``normalize=False`` the map sums to about
    ``S_c(x) - S_c(blur(x, sigma_steps))`` (completeness; the error shrinks as ``steps`` grows). The ``steps``
    blurred images of each image are one batch (``batch_size // steps`` images per compiled call); the blurs
    are matrix products on the device (:mod:`hrcam.saliency.blur`, reflected borders as scipy's). ``preds``
    and the predicted class come from the path's first point, the image itself (sigma 0).

    Args:
        **kwargs: the base's options (``batch_size``, ``normalize``, ``use_logits``, ...).
        steps: points on the path (PAIR: 100).
        max_sigma: the blur at the path's far end, in pixels (PAIR: 50).
        grad_step: the sigma step of the finite difference (PAIR: 0.01).
        sqrt: PAIR's square-root schedule (its default: False).
        channel_reduce: see :class:`~hrcam.saliency.gradients.Gradients` (default ``"sum"``).
    """

    name = "BlurIG"
    default_channel_reduce = "sum"
    options = {"steps": 100, "max_sigma": 50.0, "grad_step": 0.01, "sqrt": False}

    def _setup(self, layer: Any) -> None:
        if self.mode != "2D":
            raise ValueError("BlurIG supports mode='2D' only")
        self.steps = self.samples_per_image = check_positive_int(self.steps, "steps")
        for key in ("max_sigma", "grad_step"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{key}` must be a number > 0, got {value!r}")
            setattr(self, key, float(value))
        self.sqrt = bool(self.sqrt)
        sigmas = np.arange(self.steps + 1) * self.max_sigma / self.steps
        if self.sqrt:
            sigmas = np.sqrt(sigmas)
        self.sigmas = [float(s) for s in sigmas[:-1]]
        self._dsigma = np.diff(sigmas).astype(np.float32)

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        n = self.steps
        b, item = tf.shape(x)[0], tf.shape(x)[1:]
        path = blur_images(x, self.sigmas)  # (b, n, H, W, C); the first is x itself
        ahead = blur_images(x, [s + self.grad_step for s in self.sigmas])
        dx = (ahead - path) / self.grad_step
        flat = tf.reshape(path, tf.concat([[b * n], item], 0))
        k = num_targets(classes)
        with tf.GradientTape(watch_accessed_variables=False, persistent=k > 1) as tape:
            tape.watch(flat)
            fwd = self._forward(flat)
            preds = tf.reshape(fwd.preds, [b, n, -1])[:, 0]
            classes = self._select_classes(preds, classes)
            targets = class_scores(fwd.scores, tf.repeat(classes, n, axis=0))
        grads = stacked_gradients(tape, targets, flat)  # (b * n, k, H, W, C)
        del tape
        grads = tf.reshape(grads, tf.concat([[b, n], tf.shape(grads)[1:]], 0))
        w = tf.reshape(tf.constant(self._dsigma), [1, n, 1, 1, 1, 1])
        attr = -tf.reduce_sum(w * grads * dx[:, :, None], axis=1)  # (b, k, H, W, C)
        return preds, reduce_channels(attr, self.channel_reduce)

    def __repr__(self) -> str:
        return f"BlurIG(model={self.model.name!r}, steps={self.steps}, max_sigma={self.max_sigma:g})"
