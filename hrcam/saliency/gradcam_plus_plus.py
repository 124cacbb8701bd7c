"""Grad-CAM++ (Chattopadhay et al. 2018): pixel-wise weighted positive gradients, closed form."""

from __future__ import annotations

import tensorflow as tf

from hrcam.saliency.gradcam import GradCAM, spatial_axes, weighted_activations

__all__ = ["GradCAMPlusPlus"]


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ with the closed-form coefficients (as tf-keras-vis and pytorch-grad-cam compute them)::

        alpha = g^2 / (2 g^2 + sum_ij(A) g^3)      (0 where the denominator is 0)
        w_K   = sum_ij alpha * relu(g)
        map   = ReLU(sum_K w_K A_K)

    with ``g = dS_c/dA`` (first-order gradients of the pre-softmax score). Same cost as Grad-CAM.

    Args: see :class:`~hrcam.saliency.base.SaliencyMethod`.
    """

    name = "GradCAMPlusPlus"

    @staticmethod
    def cam_from_gradients(features: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        axes = spatial_axes(grads)
        a = tf.cast(features, tf.float32)[:, None]  # (b, 1, *spatial, K)
        g2 = tf.square(grads)
        g3 = g2 * grads
        sum_a = tf.reduce_sum(a, axis=axes, keepdims=True)
        denom = 2.0 * g2 + sum_a * g3
        alpha = tf.where(denom != 0.0, g2 / tf.where(denom != 0.0, denom, 1.0), 0.0)
        weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=axes)  # (b, k, K)
        return tf.nn.relu(weighted_activations(features, weights))
