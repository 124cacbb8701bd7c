"""The Explainer (Stalder et al. 2022) and Real-Time Saliency: a segmentation network trained to give one
mask per class for a frozen classifier.

* :func:`build_explainer` (DeepLabv3 / v3+ heads, :mod:`~hrcam.explainer.network`), the multi-label
  classifier it explains (:mod:`~hrcam.explainer.classifier`);
* losses (:mod:`~hrcam.explainer.losses`), configuration (:mod:`~hrcam.explainer.config`, presets
  ``explainer-*``), training (:mod:`~hrcam.explainer.training`, ``hrcam train-explainer``);
* evaluation: class-mask metrics (:mod:`~hrcam.explainer.class_masks`) and the harness over any map source
  (:mod:`~hrcam.sources.class_masks`, ``hrcam score --masks``).

Names load on first use, so ``import hrcam.explainer`` loads no TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {  # name -> module; imported on first use
    "build_classifier": "classifier",
    "ExplainerExperiment": "config",
    "load_explainer_config": "config",
    "build_explainer": "network",
    "aggregate_masks": "network",
    "train_explainer_experiment": "training",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hrcam.explainer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hrcam.explainer.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return __all__
