"""PxAP (Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020): pixel
average precision of maps against per-pixel masks, over all CAM thresholds, pooled over the dataset.

As wsolevaluation's ``MaskEvaluator``: each map is min-max normalised; the foreground and background pixels
of the whole set are histogrammed over the thresholds ``tau`` (step 0.01 by default); at each tau,
precision = TP / (TP + FP) and recall = TP / (TP + FN) of ``map >= tau`` over all pixels; PxAP = sum over the
thresholds (from high to low) of precision x the recall gained. Only NumPy; no TensorFlow import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrcam.arrays import check_maps, minmax

__all__ = ["pxap", "pixel_precision_recall"]


def pixel_precision_recall(
    maps: Any, gt_masks: Any, thresholds: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precision, recall) of ``minmax(map) >= tau`` pooled over every pixel of the set.

    Args:
        maps: (B, H, W) real maps (normalised per map here).
        gt_masks: (B, H, W) masks (values > 0.5 are foreground).
        thresholds: increasing CAM thresholds in [0, 1); None = ``np.arange(0, 1, 0.01)``.

    Returns:
        thresholds (T,), precision (T,), recall (T,) ordered from the highest threshold to the lowest.
    """
    m = minmax(check_maps(maps))
    s = np.asarray(gt_masks)
    if s.shape != m.shape:
        raise ValueError(f"`gt_masks` must have the maps' shape {m.shape}, got {s.shape}")
    fg = s > 0.5
    taus = np.arange(0.0, 1.0, 0.01) if thresholds is None else np.asarray(thresholds, np.float64)
    if taus.ndim != 1 or taus.size == 0 or np.any(np.diff(taus) <= 0):
        raise ValueError(f"`thresholds` must be a non-empty increasing 1-D sequence, got {thresholds!r}")
    edges = np.append(taus, [max(1.0, taus[-1]) + 1.0])  # the last bin holds everything >= taus[-1]
    values = m.astype(np.float64)
    hist_fg, _ = np.histogram(values[fg], bins=edges)
    hist_bg, _ = np.histogram(values[~fg], bins=edges)
    tp = np.cumsum(hist_fg[::-1]).astype(np.float64)  # pixels >= tau, from the highest tau down
    fp = np.cumsum(hist_bg[::-1]).astype(np.float64)
    n_fg = float(fg.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = tp / n_fg if n_fg > 0 else np.zeros_like(tp)
    return taus[::-1], precision, recall


def pxap(maps: Any, gt_masks: Any, thresholds: Any = None) -> float:
    """PxAP in [0, 1] (chance: the foreground fraction); NaN when the masks have no foreground pixel."""
    _, precision, recall = pixel_precision_recall(maps, gt_masks, thresholds)
    if not np.any(np.asarray(gt_masks) > 0.5):
        return float("nan")
    gained = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(precision * gained))
