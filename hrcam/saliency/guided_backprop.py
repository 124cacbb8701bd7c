"""Guided backpropagation (Springenberg et al. 2015): input gradients through guided ReLUs."""

from __future__ import annotations

from hrcam.saliency.gradients import Gradients

__all__ = ["GuidedBackprop"]


class GuidedBackprop(Gradients):
    """Guided backprop: every ReLU back-propagates ``relu(dy) * 1[x > 0]`` instead of ``dy * 1[x > 0]``.

    Covers ``ReLU`` layers (also ReLU6 / ``max_value``: mask ``0 < x < max``), ``Activation("relu")`` layers
    and ReLUs fused into layers (``Conv2D(..., activation="relu")``, Dense, ...), inside nested models too.
    Other activations (swish, GELU, ...) keep their ordinary gradient.

    The user's model is never modified and never cloned: the model is run layer by layer and each ReLU's
    output goes through an identity whose gradient is ``relu(dy)``, which turns the ReLU's own backward pass
    into the guided one. Forward values, weights and later predictions are untouched, and the weights in use
    are always the model's current ones.

    Args: see :class:`~hrcam.saliency.gradients.Gradients` (``channel_reduce`` defaults to ``"max_abs"``;
    ``"none"`` keeps the RGB guided gradients).
    """

    name = "GuidedBackprop"
    guided = True
    needs_graph = True
