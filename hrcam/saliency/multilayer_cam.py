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

__all__ = ["MultiLayerCAM", "default_layers"]


def default_layers(model: Any) -> list[str]:
    """For an hrcam DenseNet-FCN classifier: the outputs of its last three encoder dense blocks, deepest first
    (the paper's ``dense3``, ``dense2``, ``dense1`` at strides 16, 8, 4). ValueError for other models."""
    from hrcam.highres.densenet_fcn import config_of

    try:
        config = config_of(model)
    except Exception as err:  # noqa: BLE001 - any failure means "not an hrcam DenseNet-FCN"
        raise ValueError(
            "MultiLayerCAM needs `layers=[...]` (layer names) for models other than hrcam's DenseNet-FCN"
        ) from err
    last = config.layers_per_block - 1
    blocks = [i for i in range(config.num_blocks - 1, config.num_blocks - 4, -1) if i >= 0]
    return [f"dense{i}_{last}_concat" for i in blocks]


class MultiLayerCAM(SaliencyMethod):
    """LayerCAM on several layers at once, each map up-sampled to the input size and min-max normalised, fused
    by element-wise max (Jiang et al.'s fusion of shallow and deep LayerCAMs). One forward pass; the tape
    watches every chosen layer, so one backward pass per target class gives all layers' gradients.

    Args:
        model, mode, batch_size, normalize, use_logits, output: see :class:`SaliencyMethod`.
        layers: layer names/paths (or layers), deepest first; ``None`` = :func:`default_layers` (hrcam's
            DenseNet-FCN only). ``layer=`` is ignored.
    """

    name = "MultiLayerCAM"
    options = {"layers": None}

    def _setup(self, layer: Any) -> None:
        names = default_layers(self.model) if self.layers is None else self.layers
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
