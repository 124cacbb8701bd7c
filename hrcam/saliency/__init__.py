"""Saliency methods for Keras classifiers, on one base class, in 2D and 3D.

    >>> from hrcam.saliency import saliency
    >>> explainer = saliency(model, method="GradCAM", mode="2D", layer=None)
    >>> preds, maps = explainer(x, target_class=[281])        # preds (B, C), maps (B, H, W) in [0, 1]
    >>> maps = explainer.explain(x, targets)                  # xplique-style: maps only
    >>> hrcam.saliency.get("gradcam++")                       # the class: GradCAMPlusPlus
    >>> res = explainer.compute(x, classes, capture=("conv_aux",))   # the traceable core (tensors)

Every method builds on :class:`~hrcam.saliency.base.SaliencyMethod`; its :meth:`compute` returns
predictions, the explained classes, the maps and any captured activations from one traceable call.

Methods: CAM, GradCAM, GradCAMPlusPlus, LayerCAM, Gradients, GuidedBackprop, GuidedGradCAM, SmoothGrad,
IntegratedGradients, BlurIG, GuidedIG, ScoreCAM, GuidedCAM, MultiLayerCAM, RISE, LIME, ExtremalPerturbation,
IGOSPlusPlus, AttentionRollout (see :func:`available_methods`). CAM methods also run on a vision transformer's
tokens (:mod:`hrcam.saliency.tokens`).
"""

from __future__ import annotations

from typing import Any

from hrcam.saliency.attention_rollout import AttentionRollout
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.blur_ig import BlurIG
from hrcam.saliency.cam import CAM
from hrcam.saliency.extremal_perturbation import ExtremalPerturbation
from hrcam.saliency.gradcam import GradCAM
from hrcam.saliency.gradcam_plus_plus import GradCAMPlusPlus
from hrcam.saliency.gradients import Gradients
from hrcam.saliency.guided_backprop import GuidedBackprop
from hrcam.saliency.guided_cam import GuidedCAM
from hrcam.saliency.guided_gradcam import GuidedGradCAM
from hrcam.saliency.guided_ig import GuidedIG
from hrcam.saliency.igos_pp import IGOSPlusPlus
from hrcam.saliency.integrated_gradients import IntegratedGradients
from hrcam.saliency.layercam import LayerCAM
from hrcam.saliency.lime import LIME
from hrcam.saliency.multilayer_cam import MultiLayerCAM
from hrcam.saliency.names import canonical
from hrcam.saliency.result import SaliencyResult
from hrcam.saliency.rise import RISE
from hrcam.saliency.scorecam import ScoreCAM
from hrcam.saliency.smoothgrad import SmoothGrad

__all__ = [
    "saliency",
    "available_methods",
    "get",
    "SaliencyMethod",
    "SaliencyResult",
    "CAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "LayerCAM",
    "Gradients",
    "GuidedBackprop",
    "GuidedGradCAM",
    "SmoothGrad",
    "IntegratedGradients",
    "ScoreCAM",
    "GuidedCAM",
    "MultiLayerCAM",
    "RISE",
    "BlurIG",
    "GuidedIG",
    "LIME",
    "ExtremalPerturbation",
    "IGOSPlusPlus",
    "AttentionRollout",
]

_METHODS: tuple[type[SaliencyMethod], ...] = (
    CAM,
    GradCAM,
    GradCAMPlusPlus,
    LayerCAM,
    Gradients,
    GuidedBackprop,
    GuidedGradCAM,
    SmoothGrad,
    IntegratedGradients,
    ScoreCAM,
    GuidedCAM,
    MultiLayerCAM,
    RISE,
    BlurIG,
    GuidedIG,
    LIME,
    ExtremalPerturbation,
    IGOSPlusPlus,
    AttentionRollout,
)

#: canonical name (:mod:`hrcam.saliency.names`) -> method class
_BY_NAME = {canonical(m.name)[0]: m for m in _METHODS}


def available_methods() -> list[str]:
    """Names of the method classes :func:`saliency` and :func:`get` accept (any spelling of
    :mod:`hrcam.saliency.names` works there); :func:`hrcam.sources.available` lists every map source."""
    return [m.name for m in _METHODS]


def get(method: str | type[SaliencyMethod]) -> type[SaliencyMethod]:
    """The method class for a name (``"GradCAM"``, ``"gradcam++"``, ``"guided_backprop"``, ``"ig"``, ...).

    Every map source, trained explainers and HR-CAM's maps included, is made by name with
    :func:`hrcam.sources.get` (``hrcam.sources.get("gradcam", model)``); this returns the class of a gradient,
    CAM or perturbation method.

    Raises:
        ValueError: unknown name (the message lists the available methods), or a map source that is not one
            of these methods.
    """
    if isinstance(method, type) and issubclass(method, SaliencyMethod):
        return method
    if not isinstance(method, str):
        raise TypeError(
            f"`method` must be a method name or a SaliencyMethod class, got {type(method).__name__}"
        )
    try:
        name, preset = canonical(method)
    except ValueError:
        raise ValueError(
            f"unknown saliency `method` {method!r}; available: {', '.join(available_methods())}"
        ) from None
    if name not in _BY_NAME or preset:
        raise ValueError(
            f"{method!r} is a map source but not a saliency method class ({', '.join(available_methods())}); "
            f"make it with hrcam.sources.get({method!r}, model)"
        )
    return _BY_NAME[name]


def saliency(
    model: Any,
    method: str | type[SaliencyMethod] = "GradCAM",
    mode: str = "2D",
    layer: Any = None,
    **kwargs: Any,
) -> SaliencyMethod:
    """Build a saliency explainer for ``model`` (the pytorch-saliency interface).

    Args:
        model: a ``keras.Model`` (one image input, one (B, C) output).
        method: a name from :func:`available_methods` (case-insensitive, e.g. ``"gradcam"``, ``"GradCAM++"``).
        mode: ``"2D"`` (images NHWC) or ``"3D"`` (volumes NDHWC).
        layer: the layer for CAM methods (name, layer or ``None`` = automatic); ignored by
            input-gradient methods.
        **kwargs: the method's other options (``batch_size``, ``normalize``, ``upsample``, ``use_logits``,
            ``channel_reduce``, ``n_samples``, ``steps``, ``baseline``, ...).

    Returns:
        The explainer; ``preds, maps = explainer(x, target_class=None)``.
    """
    return get(method)(model, layer=layer, mode=mode, **kwargs)
