"""HR-CAM (Tagaris et al., ICIP 2019): the DenseNet-FCN, :class:`HalfModel` (classifier + low-res CAM),
:class:`FullModel` (expansion network + high-res CAM), the stage-2 objectives (:mod:`~hrcam.highres.stage2`),
the two-stage training in a run directory (:mod:`~hrcam.highres.training`, :mod:`~hrcam.highres.workflow`)
and the refinement pipeline (:mod:`hrcam.highres.refine`). HR-CAM's map sources (low-res CAM, high-res,
guided, refined) are registered in :mod:`hrcam.sources`.

Names load on first use, so ``import hrcam.highres.refine`` loads no TensorFlow. Using :class:`HalfModel` or
:class:`FullModel` registers hrcam's Keras classes, so ``keras.saving.load_model(path)`` returns them;
:func:`load_model` also reads files of earlier releases. :data:`LAYERS` is the one table of layer names.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {  # name -> module; imported on first use
    "DenseNetFCNConfig": "densenet_fcn",
    "OBJECTIVES": "full",
    "FullModel": "full",
    "check_weights": "full",
    "classifier_of": "loading",
    "HalfModel": "half",
    "LAYERS": "layers",
    "load_model": "loading",
    "wrap_keras_model": "loading",
    "PixelPreprocessing": "preprocessing",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hrcam.highres' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hrcam.highres.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return __all__
