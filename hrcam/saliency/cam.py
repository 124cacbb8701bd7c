"""CAM (Zhou et al. 2016): class activation maps of a global-average-pooling + Dense network, no gradients."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.ops import class_activation_maps
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.graph import producer
from hrcam.saliency.layers import LayerRef, find_cam_head, find_layer, find_score_source
from hrcam.saliency.tokens import input_hw, token_grid

__all__ = ["CAM"]


class CAM(SaliencyMethod):
    """Class activation maps: ``M_c = sum_k w_kc A_k`` with the Dense kernel ``w`` after global pooling.

    The feature tensor is found by walking back from the scores' Dense layer (e.g. ``logits``) through the
    ``GlobalAveragePooling2D``/``3D`` layer (Dropout/Flatten in between are allowed), also into a nested
    backbone; a ``GlobalAveragePooling1D`` over a vision transformer's tokens gives the map of its patch
    tokens (see ``token_grid``). One forward pass, no gradients.

    Args:
        model, mode, batch_size, normalize, upsample: see :class:`~hrcam.saliency.base.SaliencyMethod`.
        layer: ``None`` (found automatically) or the layer feeding the pooling (a name or the layer), checked.
        relu: apply a ReLU to the raw map (Zhou et al. and HR-CAM use none; with ``relu=True`` CAM equals
            Grad-CAM on a GAP + Dense network).

    Maps: the bias is ignored; raw values (``normalize=False``) are ``features @ kernel[:, c]``.
    """

    name = "CAM"
    needs_gradients = False

    options = {"relu": False}

    def _setup(self, layer: Any) -> None:
        model = self.model
        score = self.score
        if score.tensor is None or not self.use_logits:
            score = find_score_source(model, output=self.output)
        self.head = find_cam_head(score)
        shape = tuple(self.head.features.shape)
        tokens = None
        if self.rank == 4 and len(shape) == 3:  # a vision transformer's tokens, pooled
            tokens = token_grid(shape[1], input_hw(model), self.token_grid)
        if len(shape) != self.rank and tokens is None:
            raise ValueError(
                f"CAM features {shape} do not have rank {self.rank} (mode={self.mode!r})"
                + (" nor form a grid of tokens (pass token_grid=(h, w))" if len(shape) == 3 else "")
            )
        feat_layer = producer(self.head.features)[0]
        path = feat_layer.name
        if layer is not None:
            ref = find_layer(model, layer, rank=self.rank, grid=self.token_grid)
            if ref.tensor is not self.head.features and ref.layer is not feat_layer:
                raise ValueError(
                    f"CAM takes its features from the input of the pooling layer {self.head.pooling.name!r} "
                    f"(produced by {feat_layer.name!r}); got layer={ref.path!r}. Pass layer=None, or use "
                    "GradCAM for maps from another layer"
                )
            path = ref.path
        self.layer_ref = LayerRef(path=path, layer=feat_layer, tensor=self.head.features, tokens=tokens)
        self.relu = bool(self.relu)

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        fwd = self._forward(x, features=True)
        classes = self._select_classes(fwd.preds, classes)
        kernel = tf.convert_to_tensor(self.head.dense.kernel)
        cams = class_activation_maps(fwd.features, kernel, classes)  # (b, k, *spatial)
        if self.relu:
            cams = tf.nn.relu(cams)
        return fwd.preds, cams

    def __repr__(self) -> str:
        return f"CAM(model={self.model.name!r}, layer={self.layer_name!r}, dense={self.head.dense.name!r})"
