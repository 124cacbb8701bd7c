"""hrcam: where an image classifier looks, at full image resolution, from Keras 3 to TF Serving.

Heavy submodules (TensorFlow, Keras) load on first use, so ``import hrcam`` and ``hrcam --help`` stay
fast and nothing happens at import time beyond defining names.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "HalfModel": "hrcam.highres",
    "FullModel": "hrcam.highres",
    "saliency_plot": "hrcam.plotting",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hrcam' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
