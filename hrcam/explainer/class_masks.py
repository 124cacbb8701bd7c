"""The Explainer's evaluation protocol on per-class masks (NumPy only): merging, trivial baselines, the
segmentation table and the class-specificity matrix.

* Per-class maps (N, C, H, W) are **max-merged** over each image's ground-truth classes (the original's
  ``amax``), the ground truth likewise (union of the classes' masks).
* Trivial baselines: ``"0"``, ``"0.5"``, ``"1"`` (constant maps) and ``"perfect"`` (the ground truth).
* The table: the mean over images of every :func:`hrcam.evaluation.segmentation.segmentation_scores`
  metric (AUC ignores images whose ground truth is one class).
* The class-specificity matrix (``evaluate_class_scores.ipynb``): for target class t (row) and mask class k
  (column), the mean over images containing t and thresholds 0.1..0.9 of softmax_t(f(x * [mask_k > thr])).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrcam.arrays import describe
from hrcam.evaluation.segmentation import IOU_THRESHOLDS, segmentation_scores

__all__ = [
    "TRIVIAL_BASELINES",
    "TABLE_METRICS",
    "merge_class_maps",
    "trivial_maps",
    "segmentation_table",
    "specificity_matrix",
]

TRIVIAL_BASELINES = ("0", "0.5", "1", "perfect")
TABLE_METRICS = (
    "discrete_iou",
    "continuous_iou",
    "soft_f1",
    "discrete_f1",
    "auc",
    "mask_coverage",
    "background_coverage",
    "soft_accuracy",
    "overlap",
    "saliency",
)
SPECIFICITY_THRESHOLDS = IOU_THRESHOLDS


def _labels(labels: Any, n: int, c: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n, c):
        raise ValueError(f"`labels` must be ({n}, {c}) multi-hot, got {describe(y)}")
    return y > 0


def merge_class_maps(class_maps: Any, labels: Any) -> np.ndarray:
    """Max over each image's labelled classes: (N, C, H, W) maps, (N, C) multi-hot -> (N, H, W) float32.
    An image without labels gets a zero map."""
    m = np.asarray(class_maps)
    if m.ndim != 4:
        raise ValueError(f"`class_maps` must be (N, C, H, W), got {describe(m)}")
    y = _labels(labels, m.shape[0], m.shape[1])
    return np.where(y[:, :, None, None], m, -np.inf).max(axis=1).clip(0, None).astype(np.float32)


def trivial_maps(name: str, gt: np.ndarray) -> np.ndarray:
    """The baseline ``"0"``, ``"0.5"``, ``"1"`` or ``"perfect"`` for (N, H, W) ground truth."""
    gt = np.asarray(gt, np.float32)
    if name == "perfect":
        return gt.copy()
    if name in ("0", "0.5", "1"):
        return np.full(gt.shape, float(name), np.float32)
    raise ValueError(f"unknown trivial baseline {name!r}; expected one of {TRIVIAL_BASELINES}")


def segmentation_table(maps: Any, gt: Any, masked_probs: Any = None, labels: Any = None) -> dict[str, float]:
    """Mean of every segmentation metric over the images (NaN AUCs skipped).

    Args:
        maps, gt: (N, H, W) in [0, 1].
        masked_probs: optional (N, C) softmax of the classifier on ``maps * x`` (the ``saliency`` metric).
        labels: (N, C) multi-hot, with ``masked_probs``.
    """
    lab = None
    if labels is not None:
        lab = [np.flatnonzero(row) if row.any() else np.array([0]) for row in np.asarray(labels)]
    s = segmentation_scores(maps, gt, masked_probs=masked_probs, labels=lab)
    return {k: float(np.nanmean(s[k])) for k in TABLE_METRICS if k in s}


def specificity_matrix(probs: Any, labels: Any, classes: Any = None) -> np.ndarray:
    """The class-specificity matrix from the classifier's softmax on thresholded masked images.

    Args:
        probs: (N, K, T, C) softmax of f(x * [mask_k > thr_t]) for each image, mask class k (the ``classes``
            order), threshold t.
        labels: (N, C) multi-hot.
        classes: the K mask classes (default: all C, in order); rows use the same classes as targets.

    Returns:
        (K, K) float64: entry (i, j) = mean over images containing ``classes[i]`` and over thresholds of
        the probability of ``classes[i]`` with the mask of ``classes[j]``; NaN for a class without images.
    """
    p = np.asarray(probs, np.float64)
    if p.ndim != 4:
        raise ValueError(f"`probs` must be (N, K, T, C), got {describe(p)}")
    y = _labels(labels, p.shape[0], p.shape[3])
    cls = np.arange(p.shape[3]) if classes is None else np.asarray(classes, int)
    if cls.shape != (p.shape[1],):
        raise ValueError(f"`classes` must list the K={p.shape[1]} mask classes, got {classes!r}")
    out = np.full((len(cls), len(cls)), np.nan)
    for i, t in enumerate(cls):
        rows = y[:, t]
        if rows.any():
            out[i] = p[rows][:, :, :, t].mean(axis=(0, 2))
    return out
