"""Reducing the colour-channel axis of input-space attributions (Gradients, SmoothGrad, IG, Guided*)."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["CHANNEL_REDUCTIONS", "reduce_channels", "check_channel_reduce"]

CHANNEL_REDUCTIONS = ("max_abs", "mean_abs", "sum", "l2", "none")


def check_channel_reduce(how: str) -> str:
    """``how`` if it is one of :data:`CHANNEL_REDUCTIONS`, else ValueError naming ``channel_reduce``."""
    if how not in CHANNEL_REDUCTIONS:
        raise ValueError(f"`channel_reduce` must be one of {CHANNEL_REDUCTIONS}, got {how!r}")
    return how


def reduce_channels(grads: tf.Tensor, how: str) -> tf.Tensor:
    """Reduce the channel axis (last) of input-space attributions.

    Args:
        grads: (..., C) float tensor.
        how: ``"max_abs"`` (max of |g| over channels, Simonyan et al.), ``"mean_abs"``,
            ``"sum"`` (keeps signs; Integrated Gradients' completeness), ``"l2"`` (Euclidean norm)
            or ``"none"`` (keep the channels).
    """
    check_channel_reduce(how)
    if how == "max_abs":
        return tf.reduce_max(tf.abs(grads), axis=-1)
    if how == "mean_abs":
        return tf.reduce_mean(tf.abs(grads), axis=-1)
    if how == "sum":
        return tf.reduce_sum(grads, axis=-1)
    if how == "l2":
        return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=-1))
    return grads
