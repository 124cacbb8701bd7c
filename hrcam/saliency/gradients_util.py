"""Gradient helpers shared by the gradient-based methods (one backward pass per target column)."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["class_scores", "stacked_gradients", "num_targets"]


def class_scores(scores: tf.Tensor, classes: tf.Tensor) -> list[tf.Tensor]:
    """k scalars ``sum_b scores[b, classes[b, j]]``; the gradient of each gives every image's gradient for its
    j-th class at once (images do not interact in inference mode). scores (b, C) float32, classes (b, k)."""
    k = int(classes.shape[1])
    return [tf.reduce_sum(tf.gather(scores, classes[:, j], batch_dims=1)) for j in range(k)]


def stacked_gradients(tape: tf.GradientTape, targets: list[tf.Tensor], source: tf.Tensor) -> tf.Tensor:
    """Stack the gradients of the k targets w.r.t. ``source``: (b, k, *source.shape[1:]) float32."""
    grads = [
        tf.cast(tape.gradient(t, source, unconnected_gradients=tf.UnconnectedGradients.ZERO), tf.float32)
        for t in targets
    ]
    return tf.stack(grads, axis=1)


def num_targets(classes: tf.Tensor | None) -> int:
    """k of (b, k) classes (1 for ``None``)."""
    return 1 if classes is None else int(classes.shape[1])
