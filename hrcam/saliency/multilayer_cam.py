"""Multi-layer LayerCAM (Jiang et al. 2021): LayerCAMs of several stages fused by element-wise max."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from hrcam.ops import normalize_maps, resize_maps
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.gradients_util import class_scores, stacked_gradients
from hrcam.saliency.layercam import LayerCAM
from hrcam.saliency.layers import LayerRef, find_layer

__all__ = ["MultiLayerCAM"]


class MultiLayerCAM(SaliencyMethod):
    """LayerCAM on several layers at once, each map up-sampled to the input size and min-max normalised, fused
    by element-wise max (Jiang et al.'s fusion of shallow and deep LayerCAMs). One forward pass; the tape
    watches every chosen layer, so one backward pass per target class gives all layers' gradients.

    Args:
        model, mode, batch_size, normalize, use_logits, output: see :class:`SaliencyMethod`.
        layers: layer names/paths (or layers), deepest first. ``hrcam.sources.get("multilayer_cam", model)``
            fills them in for hrcam's DenseNet-FCN (:func:`hrcam.highres.densenet_fcn.multilayer_layers`).
            ``layer=`` is ignored.
    """

    name = "MultiLayerCAM"
    options = {"layers": None}

    def _setup(self, layer: Any) -> None:
        names = self.layers
        if names is None:
            raise ValueError(
                "MultiLayerCAM needs `layers=[...]` (layer names, deepest first); for hrcam's DenseNet-FCN "
                "hrcam.sources.get('multilayer_cam', model) chooses them"
            )
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise ValueError(f"`layers` must be a non-empty list of layer names, got {self.layers!r}")
        self.refs: list[LayerRef] = [find_layer(self.model, n, rank=self.rank) for n in names]
        self.layer_ref = self.refs[0]

    @property
    def layer_names(self) -> list[str]:
        return [ref.path for ref in self.refs]

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            preds, scores, feats = self._multi_forward(x, tape)
            classes = self._select_classes(preds, classes)
            targets = class_scores(scores, classes)
        size = [int(s) for s in x.shape[1 : self.rank - 1]]
        fused = None
        for f in feats:
            grads = stacked_gradients(tape, targets, f)
            m = resize_maps(LayerCAM.cam_from_gradients(f, grads), size)
            m = normalize_maps(m, batch_dims=2)
            fused = m if fused is None else tf.maximum(fused, m)
        del tape
        return preds, fused

    def _multi_forward(self, x: tf.Tensor, tape: tf.GradientTape):
        """One run of the model watching every chosen layer: (preds, scores, [features per layer])."""
        capture, linear = [], []
        if self.score.tensor is not None:
            capture.append(self.score.tensor)
        if self.score.linear_layer is not None:
            linear.append(self.score.linear_layer)
        res = self._runner.run(
            x, capture=capture, watch=[r.tensor for r in self.refs], linear=linear, on_watch=tape.watch
        )
        preds, scores = self._preds_and_scores(res)
        return preds, scores, [self._reached(res.captured, ref) for ref in self.refs]

    def __repr__(self) -> str:
        return f"MultiLayerCAM(model={self.model.name!r}, layers={self.layer_names!r})"
