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

from hrcam.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    "config: REPRODUCE CasmConfig load_casm_config; "
    "masker: CasmDecoder CasmMasker StopGradient feature_preset load_masker; resnet: build_resnet",
)
