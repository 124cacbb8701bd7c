"""CASM, classifier-agnostic saliency maskers (Zolna, Geras, Cho): a mask decoder over a classifier's
stage features, trained against a classifier that keeps training and a pool of its snapshots.

* :class:`CasmMasker` (registered Keras model), :class:`CasmDecoder`, :func:`load_masker`;
* :func:`build_resnet`: a small torchvision-layout ResNet (the masker's ResNet preset);
* training: :class:`~hrcam.casm.trainer.CasmTrainer`, :class:`~hrcam.casm.pool.ClassifierPool`,
  :func:`hrcam.casm.training.train_casm` (``hrcam train-casm``);
* evaluation: :mod:`hrcam.casm.scoring` (``hrcam score --method casm``), :mod:`hrcam.casm.masks_eval`
  (``hrcam evaluate masks``).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {  # name -> module; imported on first use, so `import hrcam.casm` loads no TensorFlow
    "REPRODUCE": "config",
    "CasmConfig": "config",
    "load_casm_config": "config",
    "CasmDecoder": "masker",
    "CasmMasker": "masker",
    "StopGradient": "masker",
    "feature_preset": "masker",
    "load_masker": "masker",
    "build_resnet": "resnet",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hrcam.casm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hrcam.casm.{_LAZY[name]}"), name)
