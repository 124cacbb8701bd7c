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

from hrcam.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    "densenet_fcn: DenseNetFCNConfig; full: OBJECTIVES FullModel check_weights; half: HalfModel; "
    "layers: LAYERS; loading: load_model wrap_keras_model classifier_of; preprocessing: PixelPreprocessing",
)
