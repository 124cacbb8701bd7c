"""SmoothGrad (Smilkov et al. 2017): input gradients averaged over noisy copies of the image."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod, reduce_channels
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.gradients_util import class_scores, num_targets, stacked_gradients

__all__ = ["SmoothGrad"]


class SmoothGrad(SaliencyMethod):
    """SmoothGrad: ``mean_n dS_c/dx (x + N(0, sigma^2))`` with ``sigma = noise_level * (max(x) - min(x))`` per
    image, then reduced over channels.

    The ``n_samples`` noisy copies of each image are one batch (vectorised, not a Python loop): each compiled
    call takes ``batch_size // n_samples`` images (at least one), i.e. about ``batch_size`` samples. The
    predicted class (``target_class=None``) and the returned ``preds`` come from the noise-free image.

    Args:
        **kwargs: the base's options (``mode``, ``batch_size``, ``normalize``, ``use_logits``, ...), see
            :class:`~hrcam.saliency.base.SaliencyMethod`.
        n_samples: noisy samples per image (>= 1).
        noise_level: noise standard deviation as a fraction of each image's value range (PAIR: 0.15).
        magnitude: average squared gradients (SmoothGrad-squared) instead of gradients.
        channel_reduce: see :class:`~hrcam.saliency.gradients.Gradients`.
        seed: int for reproducible noise (identical calls give identical maps), or ``None``.
    """

    name = "SmoothGrad"
    default_channel_reduce = "max_abs"

    options = {"n_samples": 25, "noise_level": 0.15, "magnitude": False, "seed": None}

    def _setup(self, layer: Any) -> None:
        noise_level = self.noise_level
        self.n_samples = self.samples_per_image = check_positive_int(self.n_samples, "n_samples")
        if not (float(noise_level) >= 0.0):
            raise ValueError(f"`noise_level` must be >= 0, got {noise_level!r}")
        self.noise_level = float(noise_level)
        self.magnitude = bool(self.magnitude)

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        n = self.n_samples
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes)
        axes = list(range(1, x.shape.rank))
        span = tf.reduce_max(x, axis=axes, keepdims=True) - tf.reduce_min(x, axis=axes, keepdims=True)
        sigma = self.noise_level * span  # (b, 1, ..., 1)
        b = tf.shape(x)[0]
        item = tf.shape(x)[1:]
        noise = tf.random.stateless_normal(tf.concat([[b, n], item], 0), seed=seed)
        noisy = tf.reshape(x[:, None] + noise * sigma[:, None], tf.concat([[b * n], item], 0))
        noisy_classes = tf.repeat(classes, n, axis=0)  # (b * n, k)
        k = num_targets(classes)
        with tf.GradientTape(watch_accessed_variables=False, persistent=k > 1) as tape:
            tape.watch(noisy)
            fwd = self._forward(noisy)
            targets = class_scores(fwd.scores, noisy_classes)
        grads = stacked_gradients(tape, targets, noisy)  # (b * n, k, *spatial, C)
        del tape
        grads = tf.reshape(grads, tf.concat([[b, n], tf.shape(grads)[1:]], 0))
        if self.magnitude:
            grads = tf.square(grads)
        return preds, reduce_channels(tf.reduce_mean(grads, axis=1), self.channel_reduce)
