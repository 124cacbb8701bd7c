"""Classification metrics: top-k accuracy, macro and micro precision/recall/F1, confusion matrix.

Micro-averaged precision, recall and F1 are computed from the pooled true/false positives; for
single-label data each equals the accuracy (the original HR-CAM script used a non-standard
``nanmean(metric * support) / max(support)`` instead). Macro averages are plain means over the classes
that occur in the ground truth or in the predictions (a class never seen in either is left out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["confusion_matrix", "classification_metrics"]


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"`y_true` {y_true.shape} and `y_pred` {y_pred.shape} must have the same length")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"`{name}` has class indices outside [0, {num_classes - 1}]")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def classification_metrics(
    y_true: Any, probabilities: Any, class_names: list[str] | None = None, top_k: int = 5
) -> dict[str, Any]:
    """Top-1/top-k accuracy, macro and micro P/R/F1, per-class scores and the confusion matrix.

    Args:
        y_true: (N,) int class indices.
        probabilities: (N, C) scores (probabilities or logits; only their order matters).
        class_names: optional C names for the per-class table.
        top_k: k of the top-k accuracy (capped at C).

    Returns:
        A JSON-ready dict; rates are fractions in [0, 1].
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    y_true = np.asarray(y_true).ravel()
    if probs.ndim != 2:
        raise ValueError(f"`probabilities` must be (N, C), got shape {probs.shape}")
    if y_true.shape[0] != probs.shape[0]:
        raise ValueError(
            f"`y_true` has {y_true.shape[0]} labels but `probabilities` has {probs.shape[0]} rows"
        )
    if probs.shape[0] == 0:
        raise ValueError("no examples to evaluate (empty `y_true`)")
    num_classes = probs.shape[1]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"`class_names` has {len(class_names)} names for {num_classes} classes")
    k = min(int(top_k), num_classes)
    y_pred = probs.argmax(1)
    top = np.argsort(-probs, axis=1)[:, :k]
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(0).astype(np.float64)
    true_count = cm.sum(1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_count > 0, tp / pred_count, 0.0)
        recall = np.where(true_count > 0, tp / true_count, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (true_count > 0) | (pred_count > 0)
    micro_p = tp.sum() / max(pred_count.sum(), 1)
    micro_r = tp.sum() / max(true_count.sum(), 1)
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r > 0 else 0.0
    names = class_names or [str(i) for i in range(num_classes)]
    return {
        "num_examples": int(y_true.shape[0]),
        "top1_accuracy": float((y_pred == y_true).mean()),
        f"top{k}_accuracy": float((top == y_true[:, None]).any(1).mean()),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "micro_f1": float(micro_f1),
        "per_class": {
            n: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for n, p, r, f, s in zip(names, precision, recall, f1, true_count)
        },
        "class_names": names,
        "confusion_matrix": cm.tolist(),
    }
