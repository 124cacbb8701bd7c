"""Evaluation: localisation (boxes, CASM's LE/OM/F1, box accuracy, MaxBoxAccV2, pointing games) and the
Explainer's per-pixel segmentation metrics; all NumPy, vectorised over a batch, no TensorFlow import."""

from hrcam.evaluation.localisation import (
    binarize_casm,
    box_accuracy,
    box_iou,
    boxes_to_masks,
    default_tolerance,
    energy_pointing_game,
    localization_scores,
    mask_to_box,
    max_box_acc_v2,
    pointing_game,
)
from hrcam.evaluation.segmentation import (
    background_coverage,
    continuous_iou,
    discrete_f1,
    discrete_iou,
    mask_coverage,
    overlap,
    roc_auc,
    saliency_metric,
    segmentation_scores,
    sim_ratio,
    soft_accuracy,
    soft_f1,
)

__all__ = [
    "binarize_casm",
    "mask_to_box",
    "boxes_to_masks",
    "box_iou",
    "localization_scores",
    "box_accuracy",
    "max_box_acc_v2",
    "pointing_game",
    "energy_pointing_game",
    "default_tolerance",
    "continuous_iou",
    "discrete_iou",
    "soft_accuracy",
    "soft_f1",
    "discrete_f1",
    "roc_auc",
    "mask_coverage",
    "background_coverage",
    "overlap",
    "sim_ratio",
    "saliency_metric",
    "segmentation_scores",
]
