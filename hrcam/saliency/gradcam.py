"""Grad-CAM (Selvaraju et al. 2017): activations weighted by their spatially averaged gradients."""

from __future__ import annotations

import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.gradients_util import class_scores, num_targets, stacked_gradients

__all__ = ["GradCAM", "FeatureGradients", "weighted_activations", "spatial_axes"]


def spatial_axes(grads: tf.Tensor) -> list[int]:
    """The spatial axes of a (b, k, *spatial, K) gradient tensor."""
    return list(range(2, grads.shape.rank - 1))


def weighted_activations(features: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """``sum_K weights[b, k, K] * features[b, ..., K]`` -> (b, k, *spatial) float32."""
    return tf.einsum("b...c,bkc->bk...", tf.cast(features, tf.float32), weights)


class FeatureGradients:
    """Mixin of the methods that need a layer's activations and their gradients (Grad-CAM and the
    classes built on it, GuidedCAM with ``source="gradcam"``): one forward pass, the tape on the layer."""

    def _features_and_grads(
        self, x: tf.Tensor, classes: tf.Tensor | None
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(preds (b, C), features (b, *spatial, K), grads (b, k, *spatial, K)) for the target classes."""
        with tf.GradientTape(watch_accessed_variables=False, persistent=num_targets(classes) > 1) as tape:
            fwd = self._forward(x, watch_features=True, tape=tape)
            classes = self._select_classes(fwd.preds, classes)
            targets = class_scores(fwd.scores, classes)
        grads = self.layer_ref.spatial(stacked_gradients(tape, targets, fwd.watched))
        del tape
        return fwd.preds, fwd.features, grads


class GradCAM(FeatureGradients, SaliencyMethod):
    """Grad-CAM: ``ReLU(sum_K mean_ij(dS_c/dA_ijK) A_K)`` on the chosen layer's activations ``A``.

    The forward pass runs once; the tape watches only ``A`` (not the input, not the weights), so the backward
    pass runs only through the layers after ``A``. For k classes per image the k backward passes run through
    that head only. Works in 2D and 3D (``mode="3D"``: Conv3D models, maps (B, D, H, W)).

    Args: see :class:`~hrcam.saliency.base.SaliencyMethod`.
    """

    name = "GradCAM"
    needs_layer = True

    @staticmethod
    def cam_from_gradients(features: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        """Grad-CAM maps (b, k, *spatial) from activations (b, *spatial, K), gradients (b, k, *spatial, K)."""
        weights = tf.reduce_mean(grads, axis=spatial_axes(grads))  # (b, k, K)
        return tf.nn.relu(weighted_activations(features, weights))

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        preds, features, grads = self._features_and_grads(x, classes)
        return preds, self.cam_from_gradients(features, grads)
