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

from hrcam.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    "classifier: build_classifier; config: ExplainerExperiment load_explainer_config; "
    "network: build_explainer aggregate_masks; training: train_explainer_experiment",
)
