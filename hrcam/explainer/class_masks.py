"""The Explainer's evaluation protocol on per-class masks (NumPy only): merging, trivial baselines, the
segmentation table and the class-specificity matrix.

* Per-class maps (N, C, H, W) are **max-merged** over each image's ground-truth classes (the original's
  ``amax``), the ground truth likewise (union of the classes' masks).
* Trivial baselines: ``"0"``, ``"0.5"``, ``"1"`` (constant maps) and ``"perfect"`` (the ground truth).
* The table: the mean over images of every :func:`hrcam.evaluation.segmentation.segmentation_scores`
  metric (AUC ignores images whose ground truth is one class).
* Per class (:func:`per_class_table`): for each class c, the same metrics over the images labelled c, on the
  class-c map against the class-c mask (the ``saliency`` metric with the probability of c alone), and their
  mean over the classes.
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
    "per_class_table",
    "f1_curve",
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


def per_class_table(
    pair_maps: Any,
    pair_masks: Any,
    pair_classes: Any,
    class_names: Any,
    masked_probs: Any = None,
) -> dict[str, dict[str, float]]:
    """The table's metrics per class, from (image, class) pairs of the images' labelled classes.

    Args:
        pair_maps, pair_masks: (P, H, W) in [0, 1]: each pair's class map and class mask.
        pair_classes: (P,) the pairs' class indices.
        class_names: the C class names (keys of the result).
        masked_probs: optional (P, C) softmax of the classifier on ``map * x`` (the ``saliency`` metric
            of the pair's class).

    Returns:
        ``{class name: {metric: mean over its images}}`` for every class with at least one image, and
        ``"mean"``: the mean over those classes of each metric.
    """
    cls = np.asarray(pair_classes, int).reshape(-1)
    labels = None if masked_probs is None else [np.array([c]) for c in cls]
    s = segmentation_scores(pair_maps, pair_masks, masked_probs=masked_probs, labels=labels)
    keys = [k for k in TABLE_METRICS if k in s]
    out: dict[str, dict[str, float]] = {}
    for c in np.unique(cls):
        rows = cls == c
        out[str(class_names[c])] = {k: float(np.nanmean(s[k][rows])) for k in keys}
    if out:
        out["mean"] = {k: float(np.nanmean([row[k] for row in out.values()])) for k in keys}
    return out


def f1_curve(maps: Any, gt: Any) -> list[float]:
    """The mean over images of the discrete F1 at thresholds 0.1, ..., 0.9 (the paper's F1 plot)."""
    return [float(v) for v in np.nanmean(segmentation_scores(maps, gt)["discrete_f1s"], axis=0)]


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
