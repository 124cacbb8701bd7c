"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times up-sampled Grad-CAM."""

from __future__ import annotations

import tensorflow as tf

from hrcam.ops import resize_maps
from hrcam.saliency.base import reduce_channels
from hrcam.saliency.gradcam import GradCAM
from hrcam.saliency.gradients_util import class_scores, num_targets

__all__ = ["GuidedGradCAM"]


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: ``GB(x) * upsample(GradCAM)``, the element-wise product of the guided-backprop map and
    the Grad-CAM map resized to the input (bilinear), as defined by Selvaraju et al.

    One forward pass through the model with guided ReLUs gives both gradients in one backward pass: w.r.t.
    the input (guided backprop) and w.r.t. the chosen layer (Grad-CAM). When the layers *after* the chosen
    layer contain ReLUs (a VGG-style fully connected head), the guided gradient w.r.t. the layer would differ
    from Grad-CAM's, so the Grad-CAM part then takes a second, plain forward pass.

    Args:
        **kwargs: the base's options (``mode``, ``batch_size``, ``normalize``, ``use_logits``, ...), see
            :class:`~hrcam.saliency.base.SaliencyMethod`.
        channel_reduce: how the guided gradients are reduced over colour channels before the product
            (``"max_abs"`` default; ``"none"`` keeps them: maps (B, H, W, C)).
    """

    name = "GuidedGradCAM"
    default_channel_reduce = "max_abs"
    needs_graph = True

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        k = num_targets(classes)
        with tf.GradientTape(watch_accessed_variables=False, persistent=k > 1) as tape:
            tape.watch(x)
            fwd = self._forward(x, watch_features=True, tape=tape, guided=True)
            classes = self._select_classes(fwd.preds, classes)
            targets = class_scores(fwd.scores, classes)
        pairs = [
            tape.gradient(t, [x, fwd.watched], unconnected_gradients=tf.UnconnectedGradients.ZERO)
            for t in targets
        ]
        del tape
        grad_x = tf.stack([tf.cast(p[0], tf.float32) for p in pairs], axis=1)  # (b, k, *spatial, C)
        features = fwd.features
        if fwd.guided_after_features:
            # ReLUs after the layer: Grad-CAM needs the plain gradient w.r.t. the layer (a second pass).
            _, features, grad_a = self._features_and_grads(x, classes)
        else:
            grad_a = self.layer_ref.spatial(tf.stack([tf.cast(p[1], tf.float32) for p in pairs], axis=1))
        cam = self.cam_from_gradients(features, grad_a)  # (b, k, *feature_spatial)
        size = [int(s) for s in x.shape[1:-1]]
        if [int(s) for s in cam.shape[2:]] != size:
            cam = resize_maps(cam, size)
        guided = reduce_channels(grad_x, self.channel_reduce)
        if self.channel_reduce == "none":
            cam = cam[..., None]
        return fwd.preds, guided * cam
