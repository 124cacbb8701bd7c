"""Writing HDF5 weight files the way Keras 2 wrote them (``model.save_weights('best_weights.h5')``): root
attributes ``layer_names``, ``backend``, ``keras_version``; one group per layer with the attribute
``weight_names`` (``<scope>/<layer>/<variable>:0``) and one dataset per weight at that path."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np


def write_keras2_weights(path: Path, layers: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> Path:
    """``layers``: ``[(layer name, [(weight name, array), ...]), ...]`` in the model's layer order (layers
    without weights included with an empty list, as Keras 2 listed them)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([w.encode("utf8") for w, _ in weights], dtype="S")
            for w, arr in weights:
                g.create_dataset(w, data=np.asarray(arr))
    return path


_VARS = {
    "Conv2D": ("kernel",),
    "Conv2DTranspose": ("kernel", "bias"),
    "Dense": ("kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
}


def original_name(hrcam_name: str) -> str | None:
    """The original HR-CAM code's (keras-contrib DenseNetFCN + custom_models.py) name of an hrcam layer with
    weights, written out here independently of hrcam.highres.original_weights."""
    fixed = {
        "initial_conv": "initial_conv2D",
        "initial_bn": "initial_bn",
        "tr_early_conv": "tr_early_conv2D",
        "tr_early_bn": "tr_early_bn",
        "tr_up_early": "tr_up_early_conv2DT",
        "conv_aux": "conv_aux",
        "logits": "aux_output",
        "reconstruction": "main_output",
    }
    if hrcam_name in fixed:
        return fixed[hrcam_name]
    if m := re.fullmatch(r"dense(\d+)_(\d+)_(bn|conv)", hrcam_name):
        return f"dense_{m[1]}_{m[2]}_" + ("bn" if m[3] == "bn" else "conv2D")
    if m := re.fullmatch(r"tr(\d+)_(bn|conv)", hrcam_name):
        return f"tr_{m[1]}_" + ("bn" if m[2] == "bn" else "conv2D")
    if m := re.fullmatch(r"tr_up(\d+)", hrcam_name):
        return f"tr_up_{m[1]}_conv2DT"
    return None


def write_original_hrcam_weights(
    model, path: Path, skip: tuple[str, ...] = (), extra: dict | None = None
) -> Path:
    """The weights of an hrcam DenseNet-FCN graph in the original's Keras 2 file layout: its layers renamed as
    the original named them, weight names with the name scopes keras-contrib's blocks used, and the
    original's auto-named layers without weights in between (``input_1``, ``activation_<n>``, ...).
    ``skip``: hrcam layers left out; ``extra``: more ``{layer name: [(weight name, array)]}`` groups."""
    layers, n_act = [("input_1", [])], 0
    for layer in model.layers:
        if not layer.weights:
            if type(layer).__name__ in ("Activation", "Concatenate", "MaxPooling2D"):
                n_act += 1
                layers.append((f"{type(layer).__name__.lower()}_{n_act}", []))
            continue
        name = original_name(layer.name)
        assert name is not None, layer.name
        if layer.name in skip:
            continue
        scope = "DenseNetFCN/DenseBlock/ConvBlock/" if name.startswith("dense_") else ""
        scope = "DenseNetFCN/Transition/" if re.match(r"tr_\d", name) else scope
        names = _VARS[type(layer).__name__]
        layers.append((name, [(f"{scope}{name}/{v}:0", w) for v, w in zip(names, layer.get_weights())]))
    for name, weights in (extra or {}).items():
        layers.append((name, weights))
    layers.insert(len(layers) - 2, ("gap", []))
    return write_keras2_weights(path, layers)
