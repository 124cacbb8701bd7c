"""Plots of images and saliency maps (matplotlib ``Figure`` objects, no pyplot state).

Generic drawing below the model families (it imports no family); HR-CAM's refinement-pipeline figure is
:func:`hrcam.highres.refine.figure.plot_pipeline`. One colour convention for every map
(:mod:`hrcam.plotting.colors`: perceptually uniform ``inferno`` by default, ``jet`` on request). The drawing
functions load matplotlib on first use, so ``hrcam.plotting.colors.DEFAULT_CMAP`` is cheap to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "overlay": "hrcam.plotting.overlays",
    "saliency_plot": "hrcam.plotting.overlays",
    "save_overlays": "hrcam.plotting.overlays",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hrcam.plotting' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
