"""COSE (consistency and sensitivity of saliency maps) and faithfulness metrics, batched in TensorFlow.

Not imported by :mod:`hrcam.evaluation` (which stays NumPy-only): ``import hrcam.evaluation.cose``.

    >>> from hrcam.evaluation.cose import cose_table, cose_summary
    >>> from hrcam.sources.cose import method_source, random_copy     # sources by name
    >>> source = method_source(model, "gradcam")
    >>> table, info = cose_table(source, images, labels, perturbations={"random": random_copy(model)})
    >>> cose_summary(table)    # consistency, fidelity, cose, geometric / photometric splits, counts
    >>> deletion_insertion(model, images, info["original_maps"], classes)   # faithfulness

Modules: :mod:`~hrcam.evaluation.cose.transforms` (the 13 transforms), :mod:`~hrcam.evaluation.cose.warps`
(geometric warps, inverses, validity masks), :mod:`~hrcam.evaluation.cose.ssim` (masked SSIM),
:mod:`~hrcam.evaluation.cose.metric` (pair tables, C / F / COSE), :mod:`~hrcam.evaluation.cose.faithfulness`
(deletion / insertion, masked-image score), :mod:`~hrcam.evaluation.cose.sources` (map sources),
:mod:`~hrcam.evaluation.cose.report` (the ``hrcam evaluate saliency`` tables and figures).
"""

from hrcam.evaluation.cose.faithfulness import (
    BASELINES,
    blur_images,
    deletion_insertion,
    masked_saliency_score,
)
from hrcam.evaluation.cose.metric import (
    KINDS,
    CoseTable,
    cose_bootstrap,
    cose_summary,
    cose_table,
    transform_plan,
    transformed_maps,
)
from hrcam.evaluation.cose.sources import MapSource, function_source
from hrcam.evaluation.cose.ssim import masked_ssim, ssim_map
from hrcam.evaluation.cose.transforms import (
    DEFAULT_MAGNITUDES,
    GEOMETRIC,
    MAGNITUDE_FREE,
    PHOTOMETRIC,
    TRANSFORMS,
    apply_transform,
    check_magnitude,
    check_transform,
)
from hrcam.evaluation.cose.warps import inverse_warp, validity_mask, warp

__all__ = [
    "apply_transform",
    "BASELINES",
    "blur_images",
    "check_magnitude",
    "check_transform",
    "cose_bootstrap",
    "cose_summary",
    "cose_table",
    "CoseTable",
    "DEFAULT_MAGNITUDES",
    "deletion_insertion",
    "function_source",
    "GEOMETRIC",
    "inverse_warp",
    "KINDS",
    "MAGNITUDE_FREE",
    "MapSource",
    "masked_saliency_score",
    "masked_ssim",
    "PHOTOMETRIC",
    "ssim_map",
    "transform_plan",
    "transformed_maps",
    "TRANSFORMS",
    "validity_mask",
    "warp",
]
