"""Scores of maps against ground truth (NumPy): the metrics behind ``hrcam score``.

:func:`score_maps` scores (N, H, W) maps in [0, 1] against :class:`ScoringData`: CASM's LE, OM, F1 (best and
mean over boxes), box accuracy at IoU 0.3/0.5/0.7 of CASM's box, MaxBoxAccV2 (Choe et al.: all contours,
thresholds step 0.01, IoU 0.3/0.5/0.7, each also reported), the pointing game (15 px at 224, scaled) and the
energy pointing game; with per-pixel ground truth also PxAP (Choe et al.) and the Explainer's segmentation
scores. :func:`hrcam.sources.scoring.score_methods` runs map sources by name and scores them with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ScoringData", "score_maps"]


@dataclass
class ScoringData:
    """Images and ground truth for scoring.

    images: (N, H, W, 3) uint8; labels: (N,) int; boxes: N arrays (n_i, 4) in pixel-edge coordinates at the
    images' resolution (see :func:`hrcam.data.bbox.to_edge_boxes`); masks: (N, H, W) bool object masks
    (exact, or the union of the boxes); exact_masks: whether ``masks`` are per-pixel ground truth.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: list[np.ndarray]
    masks: np.ndarray
    exact_masks: bool = False


def _max_box_acc(result: dict[str, Any]) -> dict[str, float]:
    out = {"MaxBoxAccV2": float(result["MaxBoxAccV2"])}
    for delta, acc in zip(result["iou_thresholds"], result["box_acc"]):
        out[f"MaxBoxAcc@{delta:.1f}"] = float(acc)
    return out


def score_maps(maps: np.ndarray, data: ScoringData, correct: np.ndarray) -> dict[str, float]:
    """Mean scores of (N, H, W) maps in [0, 1] against ``data``; ``correct`` (N,) top-1 correctness."""
    from hrcam.evaluation.localisation import (
        box_accuracy,
        energy_pointing_game,
        localization_scores,
        max_box_acc_v2,
        pointing_game,
    )

    loc = localization_scores(maps, data.boxes, correct)
    acc = box_accuracy(loc["boxes"], data.boxes, thresholds=(0.3, 0.5, 0.7))["accuracy"]
    point = pointing_game(maps, data.masks, classes=data.labels)
    scores = {
        "LE": float(loc["LE"].mean()),
        "OM": float(loc["OM"].mean()),
        "F1": float(loc["F1"].mean()),
        "F1a": float(loc["F1a"].mean()),
        "box_iou@0.3": float(acc[0]),
        "box_iou@0.5": float(acc[1]),
        "box_iou@0.7": float(acc[2]),
        **_max_box_acc(max_box_acc_v2(maps, data.boxes)),  # Choe et al.: thresholds step 0.01
        "pointing_game": float(point["accuracy"]),
        "energy_pointing_game": float(np.mean(energy_pointing_game(maps, data.masks))),
    }
    if data.exact_masks:
        from hrcam.evaluation.pixel_ap import pxap
        from hrcam.evaluation.segmentation import segmentation_scores

        scores["PxAP"] = pxap(maps, data.masks)
        seg = segmentation_scores(maps, data.masks)
        for name in (
            "continuous_iou",
            "discrete_iou",
            "soft_f1",
            "discrete_f1",
            "auc",
            "mask_coverage",
            "background_coverage",
        ):
            scores[name] = float(np.nanmean(seg[name]))
    return scores
