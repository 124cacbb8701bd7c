"""The one loading path for hrcam's ``.keras`` files (CLI, export, scoring, ``HalfModel.load``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from hrcam.highres.layers import LAYERS
from hrcam.io import load_keras_file

__all__ = ["classifier_of", "load_model", "wrap_keras_model"]


def wrap_keras_model(model: keras.Model):
    """An hrcam model for a plain Keras model with hrcam's layout, else ``model`` unchanged.

    A dict output with ``reconstruction`` and a high-resolution layer gives a FullModel (objective read
    from the layer's activation: linear = ``"align"``); a graph with the CAM head layers (``conv_aux``,
    ``gap``, ``logits``) gives a HalfModel. This is how ``.keras`` files of hrcam <= the Keras-model
    release (plain Functional models saved by ``hm.model.save``) load as HalfModel/FullModel.
    """
    from hrcam.highres.full import FullModel
    from hrcam.highres.half import HalfModel

    if isinstance(model, (HalfModel, FullModel)):
        return model
    names = {layer.name for layer in model.layers}
    if not set(LAYERS.cam_head) <= names:
        return model
    output = model.output
    if isinstance(output, dict) and LAYERS.reconstruction in output and names & set(LAYERS.high_res):
        return FullModel(model=model)
    if not isinstance(output, dict):
        return HalfModel(model=model)
    return model


def load_model(path: str | Path, compile: bool = False):
    """Load a ``.keras`` file: a HalfModel, a FullModel, or (any other Keras model) a plain ``keras.Model``.

    Files written by this release hold registered HalfModel/FullModel classes; files of earlier
    releases (plain Functional graphs) are recognised by their layer names (see
    :func:`wrap_keras_model`). ``compile=False`` (default) skips the saved optimizer state.

    Raises:
        FileNotFoundError: no file at ``path``. ValueError: not a ``.keras`` file, or a damaged one ("not a
        valid .keras file", naming it).
    """
    # registers hrcam's Keras classes (HalfModel, FullModel, PixelPreprocessing) for deserialisation
    from hrcam.highres import full, half, preprocessing  # noqa: F401

    return wrap_keras_model(load_keras_file(Path(path), "model file", compile=compile))


def classifier_of(model: Any) -> keras.Model:
    """The plain single-output Keras classifier of ``model``: images (B, H, W, C) -> (B, C).

    A HalfModel gives its graph (:attr:`~hrcam.highres.HalfModel.model`), a FullModel its classifier's
    (``model.half_model.model``: the probabilities only), a Keras model with a dict output its
    ``"probabilities"`` entry, any other ``keras.Model`` itself.

    Raises:
        TypeError: ``model`` is not a Keras model. ValueError: a dict output without ``"probabilities"``.
    """
    from hrcam.highres.full import FullModel
    from hrcam.highres.half import HalfModel

    if isinstance(model, FullModel):
        return model.half_model.model
    if isinstance(model, HalfModel):
        return model.model
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a keras.Model, a HalfModel or a FullModel, got {type(model).__name__}"
        )
    out = getattr(model, "output", None) if getattr(model, "inputs", None) else None
    if isinstance(out, dict):
        if LAYERS.probabilities not in out:
            raise ValueError(
                f"`model` {model.name!r} has outputs {sorted(out)}; expected one (batch, classes) output "
                f"or a {LAYERS.probabilities!r} entry"
            )
        return keras.Model(model.inputs, out[LAYERS.probabilities], name=f"{model.name}_classifier")
    return model
