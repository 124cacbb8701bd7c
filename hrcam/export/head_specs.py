"""Which saliency heads an export gets: the head list read from strings or sequences, checked against the
model, each head a map source of :mod:`hrcam.sources`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FUSED_HEADS", "DEFAULT_HEADS", "split_heads", "check_keras_classifier"]

#: heads an hrcam model computes in one graph from one forward pass (the CAM head's activations captured on
#: Grad-CAM's pass); every other map source is a head through its own ``compute``
FUSED_HEADS = ("cam", "high_res_cam", "gradcam", "guided_cam")
#: heads exported when none are named, by model kind
DEFAULT_HEADS = {"full": FUSED_HEADS[:3], "half": ("cam", "gradcam"), "keras": ("gradcam",)}


def split_heads(heads: Sequence[str] | str) -> list[str]:
    """``"cam,casm:masker=m.keras,normalize=false,gradcam"`` -> ``["cam",
    "casm:masker=m.keras,normalize=false", "gradcam"]``: commas separate heads, except before a
    ``key=value`` that continues a spec's options."""
    if not isinstance(heads, str):
        items = list(heads)
        if not all(isinstance(h, str) for h in items):
            raise TypeError(f"`heads` must be strings, got {[type(h).__name__ for h in items]}")
        return items
    out: list[str] = []
    for token in (t.strip() for t in heads.split(",")):
        if not token:
            continue
        if out and ":" in out[-1] and "=" in token and ":" not in token.split("=")[0]:
            out[-1] = f"{out[-1]},{token}"
        else:
            out.append(token)
    return out


def check_keras_classifier(model: Any) -> Any:
    """``model`` if it takes one image (B, H, W, C) with a known channel count and gives one (B, C) output."""
    inputs = list(getattr(model, "inputs", None) or [])
    outputs = list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ValueError(
            f"`model` {model.name!r} must take one image input (batch, height, width, channels), got inputs "
            f"{[tuple(t.shape) for t in inputs]}"
        )
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ValueError(
            f"`model` {model.name!r} must have one (batch, classes) output, got outputs "
            f"{[tuple(t.shape) for t in outputs]}"
        )
    if inputs[0].shape[-1] is None:
        raise ValueError(
            f"`model` {model.name!r} must declare its channel count, got {tuple(inputs[0].shape)}"
        )
    return model
