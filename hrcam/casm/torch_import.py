"""CASM's starting point: a torchvision ResNet ``state_dict`` (``resnet50-19c8e357.pth`` or any
torchvision-layout ResNet-18/34/50/101/152, or CASM's own checkpoint) imported into
:func:`hrcam.casm.resnet.build_resnet`.

    >>> from hrcam.casm.torch_import import resnet_from_torchvision
    >>> model = resnet_from_torchvision("resnet50-19c8e357.pth")            # needs torch to read a .pth
    >>> model = resnet_from_torchvision("resnet50.npz")                     # no torch: an .npz export
    >>> export_npz("resnet50-19c8e357.pth", "resnet50.npz")                 # where torch is installed

The architecture (blocks per stage, widths, basic or bottleneck blocks, classes) is read from the state dict;
the model takes [0, 1] pixels and standardises them with the ImageNet mean and std inside (torchvision's
``Normalize``), so its logits (the ``fc`` layer) equal torch's on the same images. Key mapping: a module path
with ``.`` -> ``_`` is the Keras layer (``layer1.0.downsample.0`` -> ``layer1_0_downsample_0``); convolution
kernels (O, I, kh, kw) -> (kh, kw, I, O), ``fc.weight`` (O, I) -> (I, O), BatchNorm ``weight``, ``bias``,
``running_mean``, ``running_var`` -> gamma, beta, moving mean, moving variance (``num_batches_tracked`` is
dropped). A ``module.`` prefix (``DataParallel``, CASM's checkpoints) and a ``{"state_dict": ...}`` wrapper
are accepted. Wide ResNets and ResNeXt (grouped convolutions) are not this layout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "export_npz",
    "load_torchvision_state",
    "read_state_dict",
    "resnet_from_torchvision",
    "resnet_layout",
]

_BN = ("weight", "bias", "running_mean", "running_var")


def _torch_load(path: Path) -> Mapping[str, Any]:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the machine
        raise ImportError(
            f"reading {path.name} needs torch (pip install torch); without it, export the state dict to .npz "
            "where torch is installed (hrcam.casm.torch_import.export_npz) and pass the .npz"
        ) from None
    return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A state dict as ``{key: float32 array}`` from a ``.pth`` / ``.pt`` file (needs torch), an ``.npz``
    export, or a mapping (torch tensors or arrays). Strips ``module.`` prefixes; unwraps ``state_dict``.

    Raises:
        FileNotFoundError: no file. ValueError: an unknown suffix, or no tensors in it.
    """
    if isinstance(source, Mapping):
        state = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no state dict file at {str(path)!r}")
        if path.suffix == ".npz":
            with np.load(path) as f:
                state = {k: f[k] for k in f.files}
        elif path.suffix in (".pth", ".pt", ".chk", ".tar"):
            state = _torch_load(path)
        else:
            raise ValueError(f"{str(path)!r}: expected a .pth / .pt state dict or an .npz export")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    out = {}
    for key, value in state.items():
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out[re.sub(r"^(module\.)+", "", key)] = arr
    if not out:
        raise ValueError("the state dict is empty")
    return out


def export_npz(pth: str | os.PathLike, npz: str | os.PathLike) -> Path:
    """Write the state dict of a ``.pth`` file as an ``.npz`` (one array per key), for machines without
    torch. Needs torch."""
    from hrcam.io import atomic_path

    state = read_state_dict(pth)
    with atomic_path(npz, suffix=".npz") as tmp:
        np.savez(tmp, **state)
    return Path(npz)


def resnet_layout(state: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The :func:`~hrcam.casm.resnet.build_resnet` arguments of a torchvision ResNet state dict:
    ``num_classes``, ``blocks``, ``widths``, ``stem``, ``bottleneck``.

    Raises:
        ValueError: not a torchvision-layout ResNet (naming what is missing or different).
    """
    for key in ("conv1.weight", "fc.weight", "layer1.0.conv1.weight"):
        if key not in state:
            raise ValueError(
                f"not a torchvision ResNet state dict: no {key!r} (keys: {sorted(state)[:6]} ...)"
            )
    blocks = []
    for i in range(1, 5):
        js = {int(m.group(1)) for k in state if (m := re.match(rf"layer{i}\.(\d+)\.", k))}
        if not js:
            raise ValueError(f"not a torchvision ResNet state dict: no layer{i} blocks")
        blocks.append(max(js) + 1)
    bottleneck = "layer1.0.conv3.weight" in state
    widths = [int(state[f"layer{i}.0.conv1.weight"].shape[0]) for i in range(1, 5)]
    if bottleneck and any(
        int(state[f"layer{i}.0.conv3.weight"].shape[0]) != 4 * w for i, w in zip(range(1, 5), widths)
    ):
        raise ValueError("a wide ResNet / ResNeXt state dict (bottleneck width != planes): not supported")
    return {
        "num_classes": int(state["fc.weight"].shape[0]),
        "blocks": tuple(blocks),
        "widths": tuple(widths),
        "stem": int(state["conv1.weight"].shape[0]),
        "bottleneck": bottleneck,
    }


def load_torchvision_state(model: Any, state: Mapping[str, np.ndarray]) -> list[str]:
    """Set every weight of a :func:`~hrcam.casm.resnet.build_resnet` model from a torchvision state dict;
    returns the layers set.

    Raises:
        ValueError: listing the model layers the state dict does not cover, the state keys no layer takes,
        and shape mismatches; nothing is set then.
    """
    import keras

    plan, used, problems = {}, set(), []
    for layer in model.layers:
        if not layer.weights:
            continue
        # layer1_0_conv1 -> layer1.0.conv1, layer1_0_downsample_0 -> layer1.0.downsample.0
        prefix = re.sub(r"^(layer\d+)_(\d+)_", r"\1.\2.", layer.name).replace("downsample_", "downsample.")
        if isinstance(layer, keras.layers.BatchNormalization):
            keys = [f"{prefix}.{k}" for k in _BN]
        elif isinstance(layer, keras.layers.Dense):
            keys = [f"{prefix}.weight", f"{prefix}.bias"]
        else:
            keys = [f"{prefix}.weight"]
        missing = [k for k in keys if k not in state]
        if missing:
            problems.append(f"{layer.name}: no {missing}")
            continue
        arrays = [np.asarray(state[k], np.float32) for k in keys]
        if isinstance(layer, keras.layers.Dense):
            arrays[0] = arrays[0].T
        elif isinstance(layer, keras.layers.Conv2D):
            arrays[0] = arrays[0].transpose(2, 3, 1, 0)
        want = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != want:
            problems.append(f"{layer.name}: state {[a.shape for a in arrays]}, model {want}")
            continue
        plan[layer.name] = (layer, arrays)
        used.update(keys)
    unused = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked"))
    if problems or unused:
        raise ValueError(
            "the state dict does not fit the model: "
            + "; ".join(problems + ([f"keys no layer takes: {unused[:20]}"] if unused else []))
        )
    for layer, arrays in plan.values():
        layer.set_weights(arrays)
    return sorted(plan)


def resnet_from_torchvision(
    source: str | os.PathLike | Mapping[str, Any],
    input_shape: tuple[int, int, int] = (224, 224, 3),
    name: str = "resnet",
):
    """A :func:`~hrcam.casm.resnet.build_resnet` model with the weights of a torchvision ResNet state dict
    (``.pth`` with torch, ``.npz`` without, or a mapping); ImageNet mean/std preprocessing inside, so it takes
    [0, 1] pixels. See the module docstring."""
    from hrcam.casm.resnet import build_resnet

    state = read_state_dict(source)
    layout = resnet_layout(state)
    model = build_resnet(input_shape=tuple(input_shape), name=name, preprocessing="imagenet", **layout)
    load_torchvision_state(model, state)
    return model
