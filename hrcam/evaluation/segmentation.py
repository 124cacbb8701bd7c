"""Per-pixel ground-truth metrics of the NN-Explainer evaluation (Stalder et al., NeurIPS 2022),
vectorised over a batch.

Formulas and epsilons follow ``src/evaluation/eval_utils/assessment_metrics.py``. With a saliency mask
m and a ground-truth mask s, both (H, W) in [0, 1] (s may be soft, e.g. a bilinearly resized
segmentation; VOC's convention binarises it with ``s > 0`` first, the 255 "void" border included):

* ``continuous_iou`` = sum(min(m, s)) / (sum(max(m, s)) + 1e-15);
* ``discrete_iou(t)`` = |m > t and s > t| / (|m > t or s > t| + 1e-15); the table's "Discr. IOU" is the
  mean over t = 0.1, 0.2, ..., 0.9 (``np.arange(0.1, 1, 0.1)``);
* ``soft_accuracy`` = (sum(m s) + sum((1 - m)(1 - s))) / N;
* ``soft_f1``: tp = sum(m s), fp = sum(m (1 - s)), fn = sum((1 - m) s); P = tp / (tp + fp + 1e-10),
  R = tp / (tp + fn + 1e-10), F1 = 2 P R / (P + R + 1e-10);
* ``discrete_f1(t)``: the same with m > t and s > t (positive class only); "Mean F1" averages
  t = 0.25, 0.5, 0.75, and ``discrete_f1s`` lists t = 0.1..0.9;
* ``auc``: ROC-AUC of m as a scorer of s > 0 (ties count one half, as scikit-learn); NaN when s has a
  single class (the original returned None);
* ``mask_coverage`` ("Object cov.") = 1 - mean(relu(s - m)) / mean(s) (0 when s is empty);
  ``background_coverage`` = mean(relu(m - s)) / (1 - mean(s)) (0 when s is full);
  ``overlap`` = 1 - mean(|s - m|); ``sim_ratio`` = sum(m s) / (sum(m s) + sum((m - s)^2) + 1e-10);
* ``saliency`` (Dabkowski & Gal): log(max(mean(m), 0.05)) - log(sum over the image's labels of
  p_c), p = softmax of the classifier on ``m * x``; lower is better; repeated labels are summed, as in
  the original. The classifier is the caller's: pass its probabilities on the masked images.

Only NumPy/SciPy; no TensorFlow import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from hrcam.arrays import check_maps, describe, to_array

__all__ = [
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
    "IOU_THRESHOLDS",
    "F1_THRESHOLDS",
]

IOU_THRESHOLDS = np.arange(0.1, 1, 0.1)  # the Explainer's 0.1..0.9 (exact float values of np.arange)
F1_THRESHOLDS = (0.25, 0.5, 0.75)  # "Mean F1"


def _pair(maps: Any, gt_masks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate (B, H, W) maps and ground truth in [0, 1]; return them as float64 (B, N)."""
    m = check_maps(maps, "maps", unit=True)
    s = check_maps(gt_masks, "gt_masks", unit=True)
    if s.shape != m.shape:
        raise ValueError(f"`gt_masks` must have the maps' shape {m.shape}, got {describe(s)}")
    B = m.shape[0]
    return m.reshape(B, -1).astype(np.float64), s.reshape(B, -1).astype(np.float64)


def _thresholds(t: Any, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"`{name}` must be one or more thresholds in [0, 1], got {t!r}")
    return arr


def continuous_iou(maps: Any, gt_masks: Any) -> np.ndarray:
    """sum(min(m, s)) / (sum(max(m, s)) + 1e-15) per image: (B,) float64. Inputs (B, H, W) in [0, 1]."""
    m, s = _pair(maps, gt_masks)
    return np.minimum(m, s).sum(1) / (np.maximum(m, s).sum(1) + 1e-15)


def _discrete_iou(m: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    mb = m[:, None, :] > t[None, :, None]
    sb = s[:, None, :] > t[None, :, None]
    return (mb & sb).sum(2) / ((mb | sb).sum(2) + 1e-15)


def discrete_iou(maps: Any, gt_masks: Any, thresholds: Any = 0.5) -> np.ndarray:
    """IoU of ``m > t`` and ``s > t`` (both binarised at t): (B, T) float64 (T = number of thresholds)."""
    m, s = _pair(maps, gt_masks)
    return _discrete_iou(m, s, _thresholds(thresholds, "thresholds"))


def soft_accuracy(maps: Any, gt_masks: Any) -> np.ndarray:
    """(sum(m s) + sum((1 - m)(1 - s))) / N per image: (B,) float64."""
    m, s = _pair(maps, gt_masks)
    return ((m * s).sum(1) + ((1 - m) * (1 - s)).sum(1)) / m.shape[1]


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    p = tp / (tp + fp + 1e-10)
    r = tp / (tp + fn + 1e-10)
    return 2 * p * r / (p + r + 1e-10)


def soft_f1(maps: Any, gt_masks: Any) -> np.ndarray:
    """Continuous F1 (no binarisation) per image: (B,) float64."""
    m, s = _pair(maps, gt_masks)
    return _f1((m * s).sum(1), (m * (1 - s)).sum(1), ((1 - m) * s).sum(1))


def _discrete_f1(m: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    mb = m[:, None, :] > t[None, :, None]
    sb = s[:, None, :] > t[None, :, None]
    tp = (mb & sb).sum(2).astype(np.float64)
    return _f1(tp, (mb & ~sb).sum(2), (~mb & sb).sum(2))


def discrete_f1(maps: Any, gt_masks: Any, thresholds: Any = 0.5) -> np.ndarray:
    """Positive-class F1 of ``m > t`` against ``s > t``: (B, T) float64. An empty pair scores 0."""
    m, s = _pair(maps, gt_masks)
    return _discrete_f1(m, s, _thresholds(thresholds, "thresholds"))


def _auc(m: np.ndarray, s: np.ndarray) -> np.ndarray:
    pos = s > 0
    n_pos = pos.sum(1).astype(np.float64)
    n_neg = pos.shape[1] - n_pos
    ranks = rankdata(m, axis=1)  # average ranks: ties count one half (Mann-Whitney U = ROC-AUC)
    u = np.where(pos, ranks, 0).sum(1) - n_pos * (n_pos + 1) / 2
    ok = (n_pos > 0) & (n_neg > 0)
    return np.where(ok, u / np.where(ok, n_pos * n_neg, 1), np.nan)


def roc_auc(maps: Any, gt_masks: Any) -> np.ndarray:
    """ROC-AUC of the map's values as scores for ``s > 0``: (B,) float64; NaN when s is all 0 or all 1."""
    return _auc(*_pair(maps, gt_masks))


def mask_coverage(maps: Any, gt_masks: Any) -> np.ndarray:
    """ "Object coverage": 1 - mean(relu(s - m)) / mean(s); 0 for an empty s. (B,) float64."""
    return _mask_coverage(*_pair(maps, gt_masks))


def _mask_coverage(m: np.ndarray, s: np.ndarray) -> np.ndarray:
    area = s.mean(1)
    miss = np.clip(s - m, 0, None).mean(1)
    return np.where(area > 0, 1 - miss / np.where(area > 0, area, 1), 0.0)


def background_coverage(maps: Any, gt_masks: Any) -> np.ndarray:
    """mean(relu(m - s)) / (1 - mean(s)); 0 for a full s. (B,) float64 (lower is better)."""
    return _background_coverage(*_pair(maps, gt_masks))


def _background_coverage(m: np.ndarray, s: np.ndarray) -> np.ndarray:
    area = s.mean(1)
    extra = np.clip(m - s, 0, None).mean(1)
    return np.where(area < 1, extra / np.where(area < 1, 1 - area, 1), 0.0)


def overlap(maps: Any, gt_masks: Any) -> np.ndarray:
    """1 - mean(|s - m|) per image: (B,) float64."""
    m, s = _pair(maps, gt_masks)
    return 1 - np.abs(s - m).mean(1)


def sim_ratio(maps: Any, gt_masks: Any) -> np.ndarray:
    """sum(m s) / (sum(m s) + sum((m - s)^2) + 1e-10) per image: (B,) float64."""
    m, s = _pair(maps, gt_masks)
    scp = (m * s).sum(1)
    return scp / (scp + ((m - s) ** 2).sum(1) + 1e-10)


def saliency_metric(maps: Any, masked_probs: Any, labels: Any) -> np.ndarray:
    """The Explainer's "saliency" score: log(max(mean(m), 0.05)) - log(sum_{c in labels} p_c).

    Args:
        maps: (B, H, W) masks in [0, 1].
        masked_probs: (B, C) class probabilities (softmax) of the classifier on ``maps[..., None] * x``.
        labels: per image an int or a sequence of ints (ground-truth classes; repeats are summed, as in
            the original, whose VOC label lists have one entry per object).

    Returns:
        (B,) float64; lower is better. ``inf`` when the labels' probability is 0.
    """
    m = check_maps(maps, "maps", unit=True)
    B = m.shape[0]
    p = to_array(masked_probs, "masked_probs")
    if p.ndim != 2 or p.shape[0] != B or p.dtype.kind not in "uif":
        raise ValueError(f"`masked_probs` must be ({B}, C) probabilities, got {describe(p)}")
    p = p.astype(np.float64)
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = labels.tolist()
    if not isinstance(labels, Sequence) or len(labels) != B:
        raise ValueError(f"`labels` must have one entry (an int or ints) per image ({B}), got {labels!r}")
    counts = np.zeros_like(p)
    for i, lab in enumerate(labels):
        ids = np.atleast_1d(np.asarray(lab))
        if ids.size == 0 or ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= p.shape[1]:
            raise ValueError(f"`labels[{i}]` must be class ids in [0, {p.shape[1] - 1}], got {lab!r}")
        np.add.at(counts[i], ids, 1)
    area = np.maximum(m.reshape(B, -1).mean(1, dtype=np.float64), 0.05)
    with np.errstate(divide="ignore"):
        return np.log(area) - np.log((counts * p).sum(1))


def segmentation_scores(
    maps: Any, gt_masks: Any, *, masked_probs: Any = None, labels: Any = None
) -> dict[str, np.ndarray]:
    """Every Explainer segmentation metric at once, per image.

    Args:
        maps: (B, H, W) saliency masks in [0, 1] (min-max normalise CAMs first).
        gt_masks: (B, H, W) ground-truth masks in [0, 1] (bool accepted).
        masked_probs, labels: optional, for ``saliency`` (see :func:`saliency_metric`).

    Returns:
        dict of (B,) float64 arrays: ``continuous_iou``, ``discrete_iou`` (mean over 0.1..0.9),
        ``soft_accuracy``, ``soft_f1``, ``discrete_f1`` ("Mean F1": mean over 0.25/0.5/0.75), ``auc``
        (NaN for single-class ground truth), ``mask_coverage``, ``background_coverage``, ``overlap``,
        ``sim_ratio``, ``saliency`` (with ``masked_probs`` and ``labels``); and (B, 9) arrays
        ``discrete_ious`` and ``discrete_f1s`` at thresholds :data:`IOU_THRESHOLDS`.
    """
    m, s = _pair(maps, gt_masks)
    if (masked_probs is None) != (labels is None):
        raise ValueError("`masked_probs` and `labels` go together (both or neither)")
    d_ious = _discrete_iou(m, s, IOU_THRESHOLDS)
    scp = (m * s).sum(1)
    out = {
        "continuous_iou": np.minimum(m, s).sum(1) / (np.maximum(m, s).sum(1) + 1e-15),
        "discrete_iou": d_ious.mean(1),
        "discrete_ious": d_ious,
        "soft_accuracy": (scp + ((1 - m) * (1 - s)).sum(1)) / m.shape[1],
        "soft_f1": _f1(scp, (m * (1 - s)).sum(1), ((1 - m) * s).sum(1)),
        "discrete_f1": _discrete_f1(m, s, np.asarray(F1_THRESHOLDS)).mean(1),
        "discrete_f1s": _discrete_f1(m, s, IOU_THRESHOLDS),
        "auc": _auc(m, s),
        "mask_coverage": _mask_coverage(m, s),
        "background_coverage": _background_coverage(m, s),
        "overlap": 1 - np.abs(s - m).mean(1),
        "sim_ratio": scp / (scp + ((m - s) ** 2).sum(1) + 1e-10),
    }
    if masked_probs is not None:
        out["saliency"] = saliency_metric(maps, masked_probs, labels)
    return out
