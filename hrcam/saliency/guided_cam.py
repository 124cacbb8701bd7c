"""Guided CAM: the low-resolution CAM (or Grad-CAM) up-sampled with the image as guide (no training)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.ops import class_activation_maps
from hrcam.ops.guided import GUIDED_DEFAULTS, check_guided_options, guided_upsample
from hrcam.saliency.cam import CAM
from hrcam.saliency.gradcam import FeatureGradients, GradCAM

__all__ = ["GuidedCAM"]

_SOURCES = ("cam", "gradcam")


class GuidedCAM(CAM, FeatureGradients):
    """CAM (or Grad-CAM) maps up-sampled by :func:`hrcam.ops.guided.guided_upsample`: bilinear, then He et
    al.'s colour-guided filter with the input image as guide, then PAMR iterations (local colour affinities).

    Any global-average-pooling + Dense classifier (the CAM head is found as for :class:`CAM`); runs in the
    classifier's graph, batched, one forward pass (plus one backward pass through the head for
    ``source="gradcam"``). The maps are linear in the CAM, so predictions and the CAM's meaning are unchanged;
    only where the map's mass sits between grid cells follows the image's edges.

    Args:
        model, mode, batch_size, normalize, layer, relu: as :class:`CAM` (``mode="2D"`` only).
        radius: guided-filter window radius, pixels (>= 1) or a fraction of the image side (< 1).
        eps: ridge on the guide's local colour covariance (images in [0, 1]).
        iterations: PAMR rounds after the guided filter (0 = none).
        subsample: fast guided filter factor; ``None`` = 1 up to 64 px, else side // 64.
        source: ``"cam"`` (raw CAM, default) or ``"gradcam"`` (Grad-CAM on the CAM features).
    """

    name = "GuidedCAM"
    options = {**CAM.options, **GUIDED_DEFAULTS, "subsample": None, "source": "cam"}

    def _setup(self, layer: Any) -> None:
        if self.mode != "2D":
            raise ValueError(f"GuidedCAM guides with a 2D image: `mode` must be '2D', got {self.mode!r}")
        check_guided_options(
            self.radius, self.eps, self.iterations, 1 if self.subsample is None else self.subsample
        )
        if self.source not in _SOURCES:
            raise ValueError(f"`source` must be one of {_SOURCES}, got {self.source!r}")
        super()._setup(layer)

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        if self.source == "gradcam":
            # GradCAM's machinery on the CAM head's features (self.layer_ref, set by CAM._setup)
            preds, features, grads = self._features_and_grads(x, classes)
            low = GradCAM.cam_from_gradients(features, grads)
        else:
            fwd = self._forward(x, features=True)
            preds = fwd.preds
            classes = self._select_classes(preds, classes)
            low = class_activation_maps(fwd.features, tf.convert_to_tensor(self.head.dense.kernel), classes)
            if self.relu:
                low = tf.nn.relu(low)
        maps = guided_upsample(x, low, self.radius, self.eps, self.iterations, self.subsample)
        return preds, maps

    def __repr__(self) -> str:
        return (
            f"GuidedCAM(model={self.model.name!r}, source={self.source!r}, radius={self.radius!r}, "
            f"eps={self.eps!r}, iterations={self.iterations!r})"
        )
