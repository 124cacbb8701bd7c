"""The one table of map-source names: canonical names and their aliases (no TensorFlow here).

Names are matched without case or punctuation (``"GradCAM++"``, ``"gradcam_plus_plus"`` and ``"gradcampp"``
are one name). Each canonical name is a valid TF Serving output key, so an exported head is called by it.
:func:`hrcam.sources.get` makes a source from any of these names; :func:`hrcam.saliency.get` returns the
class of a gradient / perturbation method.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CANONICAL", "ALIASES", "name_key", "canonical"]

#: every map hrcam makes, by its one canonical name
CANONICAL = (
    # gradient and CAM methods on any Keras classifier (hrcam.saliency)
    "cam",
    "gradcam",
    "gradcam_plus_plus",
    "layercam",
    "multilayer_cam",
    "attention_rollout",
    "gradients",
    "guided_backprop",
    "guided_gradcam",
    "smoothgrad",
    "integrated_gradients",
    "blur_ig",
    "guided_ig",
    # perturbation methods
    "scorecam",
    "rise",
    "lime",
    "extremal_perturbation",
    "igos_pp",
    # HR-CAM
    "guided_cam",
    "high_res_cam",
    "refined",
    # trained explainers
    "casm",
    "explainer",
    # baselines
    "center",
    "zeros",
    "ones",
)

#: alias -> (canonical name, fixed options); keys are written as users type them, matched by :func:`name_key`
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "gradcampp": ("gradcam_plus_plus", {}),
    "vanilla": ("gradients", {}),
    "vanilla_gradients": ("gradients", {}),
    "gradient": ("gradients", {}),
    "saliency": ("gradients", {}),
    "guided_backpropagation": ("guided_backprop", {}),
    "guided_bp": ("guided_backprop", {}),
    "gbp": ("guided_backprop", {}),
    "ig": ("integrated_gradients", {}),
    "integrated_gradient": ("integrated_gradients", {}),
    "smoothgrads": ("smoothgrad", {}),
    "blur_integrated_gradients": ("blur_ig", {}),
    "guided_integrated_gradients": ("guided_ig", {}),
    "rollout": ("attention_rollout", {}),
    "extremal_perturbations": ("extremal_perturbation", {}),
    "extremal": ("extremal_perturbation", {}),
    "igos++": ("igos_pp", {}),
    "score": ("scorecam", {}),
    "multilayer_layercam": ("multilayer_cam", {}),
    "hrcam_low": ("cam", {}),
    "low_res_cam": ("cam", {}),
    "guided": ("guided_cam", {}),
    "hrcam_guided": ("guided_cam", {}),
    "guided_upsampling": ("guided_cam", {}),
    "hrcam": ("high_res_cam", {}),
    "hrcam_high": ("high_res_cam", {}),
    "high_res": ("high_res_cam", {}),
    "refined_guided": ("refined", {"source": "guided_cam"}),
    "casme": ("casm", {}),
    "rtsal": ("explainer", {}),
    "real_time_saliency": ("explainer", {}),
    "centre": ("center", {}),
    "full": ("ones", {}),
    "1": ("ones", {}),
    "0": ("zeros", {}),
}


def name_key(name: str) -> str:
    """The matching key of a name: lower case, ``"++"`` -> ``"plusplus"``, other punctuation dropped."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("++", "plusplus"))


_TABLE = {name_key(n): (n, {}) for n in CANONICAL}
_TABLE.update({name_key(alias): target for alias, target in ALIASES.items()})


def canonical(name: str) -> tuple[str, dict[str, Any]]:
    """``(canonical name, fixed options)`` of ``name`` (a canonical name, an alias or a class name such as
    ``"GradCAMPlusPlus"``).

    Raises:
        TypeError: not a string. ValueError: unknown name (the message lists the canonical names).
    """
    if not isinstance(name, str):
        raise TypeError(f"a map source name must be a string, got {type(name).__name__}")
    found = _TABLE.get(name_key(name))
    if found is None:
        raise ValueError(f"unknown map source {name!r}; available: {', '.join(CANONICAL)}")
    return found[0], dict(found[1])
