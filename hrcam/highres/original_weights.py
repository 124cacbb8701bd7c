"""HR-CAM's original weights: the Keras 2 HDF5 files of the original code (``best_weights.h5``,
``last_weights.h5``) loaded onto hrcam's DenseNet-FCN by layer name.

The original builds keras-contrib's ``DenseNetFCN(input_shape, nb_dense_block=4, early_transition=True)`` and
adds ``conv_aux``, ``gap``, ``aux_output`` (and ``main_output`` for the full model); Keras 2's
``save_weights`` writes one HDF5 group per layer (root attribute ``layer_names``, each group's attribute
``weight_names``, e.g. ``initial_conv2D/kernel:0``, possibly under name scopes such as
``DenseNetFCN/DenseBlock/ConvBlock/dense_0_0_bn/gamma:0``). The layers that hold weights are named by the
original (keras-contrib's ``block_prefix``), so they map one to one onto hrcam's (:func:`hrcam_layer_name`):

=============================  ================================
original (Keras 2)              hrcam
=============================  ================================
``initial_conv2D``, ``initial_bn``   ``initial_conv``, ``initial_bn``
``tr_early_bn`` / ``_conv2D``   ``tr_early_bn`` / ``tr_early_conv``
``dense_{i}_{j}_bn`` / ``_conv2D``   ``dense{i}_{j}_bn`` / ``dense{i}_{j}_conv``
``tr_{i}_bn`` / ``_conv2D``     ``tr{i}_bn`` / ``tr{i}_conv``
``tr_up_{i}_conv2DT``           ``tr_up{i}``
``tr_up_early_conv2DT``         the high-resolution layer (``LAYERS.high_res[0]``)
``conv_aux``, ``aux_output``    ``LAYERS.cam_features``, ``LAYERS.logits``
``main_output``                 ``LAYERS.reconstruction``
=============================  ================================

Weights are taken in the file's order per layer (Keras 2 and Keras 3 order them alike: kernel, bias; gamma,
beta, moving mean, moving variance) and checked by shape. The original fed raw 0-255 pixels, so a model for
its weights is built with ``pixel_scaling="raw255"``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.highres.layers import LAYERS

__all__ = [
    "ORIGINAL_NUM_CLASSES",
    "check_weights_file",
    "file_num_classes",
    "hrcam_layer_name",
    "is_keras2_weights",
    "load_original_weights",
    "load_weights_file",
    "read_keras2_weights",
]

ORIGINAL_NUM_CLASSES = 398  # the original's ImageNet animal subset (animal_synsets.txt)
_AUX_OUTPUT = "aux_output"
_FIXED = {
    "initial_conv2D": "initial_conv",
    "initial_bn": "initial_bn",
    "tr_early_bn": "tr_early_bn",
    "tr_early_conv2D": "tr_early_conv",
    f"{LAYERS.high_res[0]}_conv2DT": LAYERS.high_res[0],
    LAYERS.cam_features: LAYERS.cam_features,  # the original named these two as hrcam does
    LAYERS.pool: LAYERS.pool,
    _AUX_OUTPUT: LAYERS.logits,
    "main_output": LAYERS.reconstruction,
}
_PATTERNS = (
    (re.compile(r"dense_(\d+)_(\d+)_bn"), "dense{0}_{1}_bn"),
    (re.compile(r"dense_(\d+)_(\d+)_conv2D"), "dense{0}_{1}_conv"),
    (re.compile(r"tr_(\d+)_bn"), "tr{0}_bn"),
    (re.compile(r"tr_(\d+)_conv2D"), "tr{0}_conv"),
    (re.compile(r"tr_up_(\d+)_conv2DT"), "tr_up{0}"),
)


def hrcam_layer_name(original: str) -> str | None:
    """hrcam's name of an original layer (None for the auto-named layers without weights, e.g.
    ``activation_3``, ``concatenate_27``, ``input_1``)."""
    if original in _FIXED:
        return _FIXED[original]
    for pattern, template in _PATTERNS:
        m = pattern.fullmatch(original)
        if m:
            return template.format(*m.groups())
    return None


def _decode(values: Any) -> list[str]:
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _group(f):
    return f["model_weights"] if "model_weights" in f else f  # model.save() files hold the weights there


def is_keras2_weights(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Keras 2 (legacy) HDF5 weights or model file (its weights group has the attribute
    ``layer_names``)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "layer_names" in _group(f).attrs
    except OSError:
        return False


def read_keras2_weights(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """``{layer name: [arrays in the file's order]}`` of every layer with weights of a Keras 2 HDF5 file.

    Raises:
        FileNotFoundError: no file. ValueError: not a Keras 2 HDF5 weights file.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {str(path)!r}")
    if not is_keras2_weights(path):
        raise ValueError(
            f"{str(path)!r} is not a Keras 2 HDF5 weights file (no `layer_names` attribute); expected the "
            "original HR-CAM code's best_weights.h5 / last_weights.h5"
        )
    out = {}
    with h5py.File(path, "r") as f:
        g = _group(f)
        for name in _decode(g.attrs["layer_names"]):
            names = _decode(g[name].attrs.get("weight_names", []))
            if names:
                out[name] = [np.asarray(g[name][w]) for w in names]
    return out


def file_num_classes(path: str | os.PathLike) -> int | None:
    """The class count of an original weights file (its ``aux_output`` kernel), or None."""
    weights = read_keras2_weights(path).get(_AUX_OUTPUT)
    return int(weights[0].shape[-1]) if weights else None


def _expansion(name: str, num_blocks: int) -> bool:
    """A layer of the full model's expansion path (absent from a HalfModel)."""
    m = re.fullmatch(r"dense(\d+)_\d+_(bn|conv)", name)
    if m:
        return int(m.group(1)) > num_blocks + 1
    m = re.fullmatch(r"tr_up(\d+)", name)
    return bool(m and int(m.group(1)) >= 1) or name in (LAYERS.high_res[0], LAYERS.reconstruction)


def load_original_weights(model: Any, path: str | os.PathLike, num_blocks: int | None = None) -> list[str]:
    """Set the weights of ``model`` (a Keras model built by :mod:`hrcam.highres.densenet_fcn`) from an
    original HR-CAM HDF5 file, by layer name (see the module docstring); returns the layers set.

    ``num_blocks`` (the model's): the expansion-path layers of a full model's file are skipped when ``model``
    has none (a HalfModel from the FullModel's ``best_weights.h5``).

    Raises:
        ValueError: listing every model layer the file does not cover, every file layer with weights the model
            has no layer for, and every shape mismatch; nothing is set then.
    """
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    weights = read_keras2_weights(path)
    plan, unknown, mismatch, seen = {}, [], [], set()
    for original, arrays in weights.items():
        name = hrcam_layer_name(original)
        if name not in layers:
            if not (name and num_blocks is not None and _expansion(name, num_blocks)):
                unknown.append(original if name is None else f"{original} (hrcam: {name})")
            continue
        seen.add(name)
        want = [tuple(w.shape) for w in layers[name].weights]
        got = [tuple(a.shape) for a in arrays]
        if want != got:
            mismatch.append(f"{original} -> {name}: file {got}, model {want}")
            continue
        plan[name] = arrays
    missing = sorted(set(layers) - seen)
    if missing or unknown or mismatch:
        parts = []
        if missing:
            parts.append(f"model layers without weights in the file: {missing}")
        if unknown:
            parts.append(f"file layers the model has no layer for: {unknown}")
        if mismatch:
            parts.append("shape mismatches: " + "; ".join(mismatch))
        raise ValueError(
            f"{str(path)!r} does not fit the model (layers matched by name): "
            + "; ".join(parts)
            + ". The original HR-CAM network is the paper's DenseNet-FCN (HalfModel() / FullModel() without "
            f"arguments: num_blocks=4, growth_rate=16, 224x224, {ORIGINAL_NUM_CLASSES} classes)"
        )
    for name, arrays in plan.items():
        layers[name].set_weights(arrays)
    return sorted(plan)


def check_weights_file(path: Any) -> bool:
    """True for a Keras 2 HDF5 file (the original code's), False for a Keras 3 ``.weights.h5`` file.

    Raises:
        TypeError: not a path. FileNotFoundError: no file. ValueError: neither kind of weights file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`weights` must be the path of a weights file, got {type(path).__name__}")
    if path == "imagenet":
        raise ValueError(
            "`weights='imagenet'` needs a `backbone` (the DenseNet-FCN has no ImageNet weights; it takes a "
            "local file: the original HR-CAM code's best_weights.h5)"
        )
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"no weights file at {os.fspath(path)!r} (the DenseNet-FCN takes a local file: the original "
            "HR-CAM code's best_weights.h5, or a .weights.h5 written by hrcam's model.save_weights)"
        )
    if is_keras2_weights(path):
        return True
    if os.fspath(path).endswith(".weights.h5"):
        return False
    raise ValueError(
        f"`weights` {os.fspath(path)!r} is neither a Keras 2 HDF5 weights file (the original's "
        "best_weights.h5) nor a Keras 3 .weights.h5 file"
    )


def load_weights_file(model: Any, path: str | os.PathLike, num_blocks: int | None = None) -> None:
    """Load a weights file into a DenseNet-FCN graph: the original's Keras 2 HDF5 by layer name
    (:func:`load_original_weights`), or a Keras 3 ``.weights.h5`` with ``model.load_weights``."""
    if check_weights_file(path):
        load_original_weights(model, path, num_blocks)
    else:
        model.load_weights(os.fspath(path))
