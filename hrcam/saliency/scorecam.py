"""Score-CAM (Wang et al. 2020): activation maps as input masks, masked images' class scores as weights."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.ops import normalize_maps, resize_maps
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.gradcam import weighted_activations

__all__ = ["ScoreCAM"]


class ScoreCAM(SaliencyMethod):
    """Score-CAM: ``ReLU(sum_K s_c(x * H_K) A_K)``, gradient-free.

    Each channel ``A_K`` of the chosen layer is up-sampled to the input size and min-max scaled to [0, 1]
    (``H_K``); the model runs on every masked image ``x * H_K`` and the class's output ``s_c`` (the model's
    output: a probability when it ends in a softmax, as in the paper) weights the channel. All K channels of a
    batch go through the model in chunks of ``chunk_size`` masked images, inside the one compiled call, so the
    cost is K forward passes per image (plus one). Works in 2D and 3D.

    Args:
        model, layer, mode, batch_size, normalize, upsample: see :class:`~hrcam.saliency.base.SaliencyMethod`.
        chunk_size: masked images per forward pass (>= 1); memory grows with it.
        baseline_subtract: subtract the score of the all-black image (the paper's "increase of confidence",
            ``s_c(x * H_K) - s_c(0)``); the default (False) uses the scores themselves, as the reference code.
    """

    name = "ScoreCAM"
    needs_layer = True
    needs_gradients = False
    options = {"chunk_size": 256, "baseline_subtract": False}

    def _setup(self, layer: Any) -> None:
        self.chunk_size = check_positive_int(self.chunk_size, "chunk_size")
        self.baseline_subtract = bool(self.baseline_subtract)

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        fwd = self._forward(x, features=True)
        classes = self._select_classes(fwd.preds, classes)  # (b, k)
        feats = tf.cast(fwd.features, tf.float32)  # (b, *sp, K)
        n_sp = self.rank - 2
        k_channels = int(feats.shape[-1])
        size = [int(s) for s in x.shape[1 : 1 + n_sp]]
        perm = [0, self.rank - 1, *range(1, self.rank - 1)]
        masks = tf.transpose(feats, perm)  # (b, K, *sp)
        if list(masks.shape[2:]) != size:
            masks = resize_maps(masks, size)
        masks = normalize_maps(masks, batch_dims=2)  # (b, K, *S) in [0, 1], constant channels -> 0
        b_static = x.shape[0]
        per_chunk = max(1, self.chunk_size // int(b_static)) if b_static else max(1, self.chunk_size // 8)
        scores = []
        for start in range(0, k_channels, per_chunk):
            m = masks[:, start : start + per_chunk]  # (b, n, *S)
            n = int(m.shape[1])
            masked = x[:, None] * m[..., None]  # (b, n, *S, C)
            flat = tf.reshape(masked, tf.concat([[-1], tf.shape(x)[1:]], 0))
            out = self._forward(flat).preds  # (b * n, C)
            scores.append(tf.reshape(out, tf.stack([-1, n, tf.shape(out)[-1]])))
        scores = tf.concat(scores, axis=1)  # (b, K, C)
        weights = tf.gather(tf.transpose(scores, [0, 2, 1]), classes, batch_dims=1)  # (b, k, K)
        if self.baseline_subtract:
            base = self._forward(tf.zeros_like(x[:1])).preds[0]  # (C,)
            weights -= tf.gather(base, classes)[..., None]
        return fwd.preds, tf.nn.relu(weighted_activations(feats, weights))
