"""Guided IG (Kapishnikov et al. 2021): a path that moves the features of smallest gradient first."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod, reduce_channels
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.integrated_gradients import check_baseline

__all__ = ["GuidedIG"]


class GuidedIG(SaliencyMethod):
    """Guided Integrated Gradients (PAIR's algorithm and defaults), batched over images and classes.

    The path starts at the baseline and ends at the image in ``steps`` steps; at step s the point's L1
    distance to the image must have fallen to ``(1 - s / steps)`` of the whole. Each step computes the
    gradient at the current point and moves the features with the smallest absolute gradient (the lowest
    ``fraction`` quantile, repeated until the distance is reached) towards the image, each feature staying
    within ``max_dist`` (in path fraction) of the straight path's position; the attribution adds
    ``gradient * (x_new - x_old)``. The path ends at the image, so the map sums to the score difference up to
    the path discretisation, and on a linear model it equals Integrated Gradients.

    Every (image, class) pair follows its own path: ``steps`` forward and backward passes of the batch, one
    after the other (the path depends on the gradients), inside one ``tf.while_loop``; the inner moves are a
    bounded loop over the batch with per-pair masks. ``preds`` come from one extra forward pass on the images.

    Args:
        **kwargs: the base's options (``mode``, ``batch_size``, ``normalize``, ``use_logits``, ...).
        steps: gradient evaluations along the path (PAIR: 200). fraction: the quantile of features moved at
            a time (PAIR: 0.25). max_dist: how far (as a path fraction) a feature may run ahead of or lag the
            straight path (PAIR: 0.02).
        baseline: as Integrated Gradients' (default black).
        channel_reduce: see :class:`~hrcam.saliency.gradients.Gradients` (default ``"sum"``).
    """

    name = "GuidedIG"
    default_channel_reduce = "sum"
    options = {"steps": 200, "fraction": 0.25, "max_dist": 0.02, "baseline": 0.0}

    def _setup(self, layer: Any) -> None:
        self.steps = check_positive_int(self.steps, "steps")
        for key, hi in (("fraction", 1.0), ("max_dist", 1.0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= hi:
                raise ValueError(f"`{key}` must be a number in (0, {hi:g}], got {value!r}")
            setattr(self, key, float(value))
        self.baseline = check_baseline(self.baseline, self.rank, self._input_shape)
        self._inner = 2 * math.ceil(1.0 / self.fraction) + 4  # moves per step (each moves >= fraction)

    def _gradients(self, x: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
        """(r, *item) gradients of each row's class score at ``x`` (r, *item)."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            scores = self._forward(x).scores
            target = tf.reduce_sum(tf.gather(scores, classes, batch_dims=1))
        return tf.cast(
            tape.gradient(target, x, unconnected_gradients=tf.UnconnectedGradients.ZERO), tf.float32
        )

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes)  # (b, k)
        b, k = tf.shape(x)[0], classes.shape[1]
        item = tf.shape(x)[1:]
        rows = tf.reshape(tf.repeat(x[:, None], k, axis=1), tf.concat([[b * k], item], 0))  # (r, *item)
        row_classes = tf.reshape(classes, [-1])
        x_in = tf.reshape(rows, [b * k, -1])  # (r, D)
        base = tf.reshape(tf.constant(self.baseline), [1, -1]) + tf.zeros_like(x_in)
        diff = x_in - base
        l1_total = tf.reduce_sum(tf.abs(diff), axis=1)
        n_feat = tf.shape(x_in)[1]
        q_index = tf.cast(tf.floor(self.fraction * tf.cast(n_feat - 1, tf.float32)), tf.int32)
        eps = 1e-6

        def step(s, cur, attr):
            g = tf.reshape(self._gradients(tf.reshape(cur, [-1, *x.shape[1:]]), row_classes), [b * k, -1])
            alpha = tf.cast(s + 1, tf.float32) / self.steps
            a_min, a_max = tf.maximum(alpha - self.max_dist, 0.0), tf.minimum(alpha + self.max_dist, 1.0)
            x_min, x_max = base + diff * a_min, base + diff * a_max
            l1_target = l1_total * (1.0 - alpha)

            def move(i, cur, attr, grad, active):
                with_alpha = tf.where(diff != 0, (cur - base) / tf.where(diff != 0, diff, 1.0), a_max)
                clamped = tf.where(with_alpha < a_min, x_min, cur)
                l1_cur = tf.reduce_sum(tf.abs(clamped - x_in), axis=1)
                done = tf.abs(l1_cur - l1_target) <= eps * tf.maximum(l1_total, 1.0)
                grad2 = tf.where(clamped == x_max, math.inf, grad)
                mag = tf.abs(grad2)
                threshold = tf.gather(tf.sort(mag, axis=1), q_index, axis=1)[:, None]
                chosen = (mag <= threshold) & tf.math.is_finite(grad2)
                l1_s = tf.reduce_sum(tf.abs(clamped - x_max) * tf.cast(chosen, tf.float32), axis=1)
                gamma = tf.where(l1_s > 0, (l1_cur - l1_target) / tf.where(l1_s > 0, l1_s, 1.0), math.inf)
                partial = clamped + (x_max - clamped) * gamma[:, None]
                moved = tf.where(chosen, tf.where(gamma[:, None] > 1.0, x_max, partial), clamped)
                nxt = tf.where(done[:, None], clamped, moved)
                nxt = tf.where(active[:, None], nxt, cur)
                attr = attr + (nxt - cur) * g
                grad = tf.where((active & ~done)[:, None], grad2, grad)
                return i + 1, nxt, attr, grad, active & ~done & (gamma > 1.0)

            active = tf.ones([b * k], tf.bool)
            _, cur, attr, _, _ = tf.while_loop(
                lambda i, c, a, g_, act: (i < self._inner) & tf.reduce_any(act),
                move,
                (tf.constant(0), cur, attr, g, active),
            )
            return s + 1, cur, attr

        _, _, attr = tf.while_loop(
            lambda s, c, a: s < self.steps, step, (tf.constant(0), base, tf.zeros_like(x_in))
        )
        attr = tf.reshape(attr, tf.concat([[b, k], item], 0))
        return preds, reduce_channels(attr, self.channel_reduce)
