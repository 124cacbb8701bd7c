"""Argument checks of the saliency core (mode, model input, input rank, one-hot targets)."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np

from hrcam.ops import to_numpy
from hrcam.saliency.graph import graph_of, is_guided_relu, iter_nodes

__all__ = [
    "check_positive_int",
    "require_guided_graph",
    "check_mode",
    "check_model_input",
    "check_input_rank",
    "one_hot_to_indices",
]


def check_mode(mode: Any) -> str:
    """``"2D"`` or ``"3D"`` (any case) -> upper case; else ValueError naming ``mode``."""
    if not isinstance(mode, str) or mode.upper() not in ("2D", "3D"):
        raise ValueError(f"`mode` must be '2D' (images NHWC) or '3D' (volumes NDHWC), got {mode!r}")
    return mode.upper()


def _model_input_shape(model: keras.Model) -> tuple | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs; saliency methods need a single image input"
        )
    return tuple(inputs[0].shape)


def check_model_input(model: keras.Model, mode: str) -> tuple | None:
    """The model's input shape (None, *spatial, C), checked against ``mode``; ``None`` when unknown.

    Raises:
        ValueError: several inputs, or an input rank that does not match ``mode``.
    """
    shape = _model_input_shape(model)
    if shape is not None and len(shape) != (4 if mode == "2D" else 5):
        if len(shape) == 5 and mode == "2D":
            raise ValueError(
                f"model {model.name!r} takes 5-D inputs {shape} (volumes (batch, depth, height, width, "
                "channels)) but mode='2D'; use mode='3D'"
            )
        if len(shape) == 4 and mode == "3D":
            raise ValueError(
                f"model {model.name!r} takes 4-D inputs {shape} (images (batch, height, width, "
                "channels)) "
                "but mode='3D'; use mode='2D'"
            )
        raise ValueError(
            f"model {model.name!r} input shape {shape} is neither 4-D (2D mode) nor 5-D (3D mode)"
        )
    return shape


def check_input_rank(x: Any, mode: str) -> None:
    """A clear message for volumes given to a 2D explainer and images given to a 3D one."""
    ndim = getattr(x, "ndim", None)
    if ndim is None and hasattr(x, "shape"):
        ndim = len(x.shape)
    if ndim is not None and mode == "2D" and ndim == 5:
        raise ValueError(
            f"`x` has rank 5 (volumes (batch, depth, height, width, channels)), shape "
            f"{tuple(x.shape)}, but this explainer is in mode='2D'; use mode='3D' with a 3D model"
        )
    if ndim is not None and mode == "3D" and ndim == 4:
        raise ValueError(
            f"`x` has rank 4 (images (batch, height, width, channels)), shape {tuple(x.shape)}, but this "
            "explainer is in mode='3D' (expects (batch, depth, height, width, channels))"
        )


def one_hot_to_indices(targets: Any, num_classes: int | None) -> Any:
    """xplique's one-hot (B, C) float/bool rows -> (B,) int32 class indices; anything else unchanged.

    Raises:
        ValueError: (B, C) float/bool rows that are not one-hot.
    """
    if targets is None or isinstance(targets, (int, np.integer)):
        return targets
    arr = np.asarray(to_numpy(targets))
    if arr.ndim == 2 and arr.dtype.kind in "fb" and num_classes and arr.shape[1] == num_classes:
        if arr.size and np.all((arr == 0) | (arr == 1)) and np.all(arr.sum(axis=1) == 1):
            return arr.argmax(axis=1).astype(np.int32)
        raise ValueError(
            f"`targets` of shape {arr.shape} and dtype {arr.dtype} looks like one-hot rows but "
            "is not one-hot (exactly one 1 per row); pass class indices instead"
        )
    return targets


def require_guided_graph(model: keras.Model, method: str) -> None:
    """For guided methods: the model's ReLUs must be reachable (a graph), and there should be some."""
    if graph_of(model) is None:
        raise ValueError(
            f"{method} needs a Functional or Sequential model (built on keras.Input) to reach its "
            f"ReLUs; model {model.name!r} is a subclassed model. Use Gradients or SmoothGrad instead"
        )
    if not any(is_guided_relu(node.operation) for _, node in iter_nodes(model)):
        warnings.warn(
            f"model {model.name!r} has no ReLU layers or ReLU activations: {method} gives plain "
            "gradients here (guided backprop only changes how ReLUs back-propagate)",
            stacklevel=4,
        )


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int if it is a positive int (bools refused), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")
    return int(value)
