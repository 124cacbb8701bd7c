"""Which saliency heads an export gets: the head list read from strings or sequences, checked against the
model, each head a map source of :mod:`hrcam.sources`."""

from __future__ import annotations

from typing import Any

__all__ = ["FUSED_HEADS", "DEFAULT_HEADS", "check_keras_classifier"]

#: heads an hrcam model computes in one graph from one forward pass (the CAM head's activations captured on
#: Grad-CAM's pass); every other map source is a head through its own ``compute``
FUSED_HEADS = ("cam", "high_res_cam", "gradcam", "guided_cam")
#: heads exported when none are named, by model kind
DEFAULT_HEADS = {"full": FUSED_HEADS[:3], "half": ("cam", "gradcam"), "keras": ("gradcam",)}


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
