"""hrcam: where an image classifier looks, at full image resolution, from Keras 3 to TF Serving.

Heavy submodules (TensorFlow, Keras) load on first use, so ``import hrcam`` and ``hrcam --help`` stay
fast and nothing happens at import time beyond defining names.
"""

from __future__ import annotations

from hrcam.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, _dir, _names = lazy_exports(
    __name__, "hrcam.highres: HalfModel FullModel; hrcam.plotting: saliency_plot"
)
__all__ = ["__version__", *_names]


def __dir__() -> list[str]:
    return sorted(__all__)
