"""What the saliency core passes around: one forward pass, one :meth:`compute` result, capture requests."""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

__all__ = ["Forward", "SaliencyResult", "CaptureState"]


@dataclasses.dataclass
class Forward:
    """One forward pass through the model.

    Attributes:
        preds: (B, C) float32 model outputs (probabilities when the model ends in a softmax).
        scores: (B, C) float32 scores to explain (pre-softmax unless ``use_logits=False``).
        features: (B, *spatial, K) activations of the chosen layer (in the layer's dtype), or ``None``; a
            token layer's (B, N, K) tokens as their (B, h, w, K) patch grid.
        watched: the chosen layer's output as the model produced it (the tokens of a token layer): gradients
            are taken w.r.t. it, then read as ``features`` are (``LayerRef.spatial``).
        guided_after_features: a guided ReLU lies between ``features`` and ``scores``.
    """

    preds: tf.Tensor
    scores: tf.Tensor
    features: tf.Tensor | None = None
    watched: tf.Tensor | None = None
    guided_after_features: bool = False


@dataclasses.dataclass
class SaliencyResult:
    """What :meth:`hrcam.saliency.base.SaliencyMethod.compute` returns (all ``tf.Tensor``).

    Attributes:
        preds: (B, C) float32 model outputs.
        classes: (B, k) int32 explained classes (negative requests replaced by the predicted class).
        maps: (B, k, *spatial) float32 maps (input resolution unless ``upsample=False``; in [0, 1] unless
            ``normalize=False``); a trailing channel axis with ``channel_reduce="none"``.
        captured: ``{name: (B, ...) activations}`` for every layer in ``capture=``, from the forward pass on
            the images themselves (in the layer's dtype).
    """

    preds: tf.Tensor
    classes: tf.Tensor
    maps: tf.Tensor
    captured: dict[str, tf.Tensor] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class CaptureState:
    """The captures requested for one ``SaliencyMethod.compute`` call (filled by the first forward pass on the
    images themselves)."""

    images: tf.Tensor
    refs: dict[str, Any]
    values: dict[str, tf.Tensor] | None = None
