"""Evaluate a run's models on its held-out split and write metrics JSON and plots into the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrcam.io import read_json, write_json

__all__ = ["evaluate_classifier", "update_metrics", "cam_localisation"]


def evaluate_classifier(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    plot_path: str | Path | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Classification metrics of a HalfModel/FullModel on (images, labels); optional confusion-matrix PNG."""
    from hrcam.evaluation.classification import classification_metrics

    probs = model.predict_proba(images, batch_size=batch_size)
    metrics = classification_metrics(labels, probs, class_names)
    if plot_path is not None:
        from hrcam.plotting.charts import confusion_matrix_figure, save_figure

        save_figure(confusion_matrix_figure(metrics["confusion_matrix"], class_names), plot_path)
        metrics["confusion_matrix_plot"] = str(plot_path)
    return metrics


def cam_localisation(maps: dict[str, np.ndarray], masks: np.ndarray) -> dict[str, dict[str, float]]:
    """Segmentation scores of each named set of maps against per-pixel ground truth.

    Args:
        maps: name -> (N, h, w) maps in [0, 1] (any resolution; resized to the masks' size).
        masks: (N, H, W) bool ground-truth masks.
    """
    import tensorflow as tf

    from hrcam import ops
    from hrcam.evaluation.pixel_ap import pxap
    from hrcam.evaluation.segmentation import segmentation_scores

    size = masks.shape[1:]
    table = {}
    for name, m in maps.items():
        m = np.asarray(m, np.float32)
        if m.shape[1:] != size:
            m = ops.normalize_maps(ops.resize_maps(tf.convert_to_tensor(m), size)).numpy()
        scores = segmentation_scores(m, masks)
        table[name] = {k: float(np.nanmean(v)) for k, v in scores.items() if np.ndim(v) <= 1}
        table[name]["pxap"] = pxap(m, masks)
    return table


def update_metrics(path: str | Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``{section: values}`` into the metrics JSON at ``path`` (written atomically)."""
    path = Path(path)
    data = read_json(path) if path.is_file() else {}
    data[section] = values
    write_json(path, data)
    return data
