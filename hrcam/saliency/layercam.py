"""LayerCAM (Jiang et al. 2021): element-wise positive gradients times activations."""

from __future__ import annotations

import tensorflow as tf

from hrcam.saliency.gradcam import GradCAM

__all__ = ["LayerCAM"]


class LayerCAM(GradCAM):
    """LayerCAM: ``ReLU(sum_K relu(dS_c/dA_ijK) * A_ijK)``; keeps spatial detail, so it also works on early
    layers (pass ``layer=``). Same cost as Grad-CAM.

    Args: see :class:`~hrcam.saliency.base.SaliencyMethod`.
    """

    name = "LayerCAM"

    @staticmethod
    def cam_from_gradients(features: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        a = tf.cast(features, tf.float32)[:, None]
        return tf.nn.relu(tf.reduce_sum(tf.nn.relu(grads) * a, axis=-1))
