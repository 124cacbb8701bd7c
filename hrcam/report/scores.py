"""Per-image scores of one source's maps, and their summary, with hrcam's metrics.

Where the ground truth allows: ``iou`` and ``pxap`` against exact object masks
(:func:`hrcam.evaluation.segmentation.discrete_iou` at 0.5, :func:`hrcam.evaluation.pixel_ap.pxap`; the
summary's PxAP pools every pixel of the set, as Choe et al.), ``box_iou`` against boxes (the IoU of the map's
box, CASM's rule, :func:`hrcam.evaluation.localisation.localization_scores`), and always, unless ``steps``
is 0, ``deletion`` / ``insertion`` AUC (:func:`hrcam.evaluation.cose.faithfulness.deletion_insertion`, with
the source's own classifier).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Metric", "METRICS", "image_scores", "summarise"]


@dataclass(frozen=True)
class Metric:
    label: str
    better: str  # "higher" or "lower"
    help: str


METRICS: dict[str, Metric] = {
    "iou": Metric("IoU", "higher", "IoU of the map above 0.5 with the exact object mask"),
    "pxap": Metric(
        "PxAP",
        "higher",
        "pixel average precision against the object mask (Choe et al.; the table pools pixels)",
    ),
    "box_iou": Metric("box IoU", "higher", "IoU of the map's box (CASM's rule) with the best true box"),
    "deletion": Metric(
        "deletion", "lower", "area under the class probability as the most salient pixels are blurred away"
    ),
    "insertion": Metric(
        "insertion", "higher", "area under the class probability as the most salient pixels are put back"
    ),
}


def image_scores(
    maps: np.ndarray,
    classes: np.ndarray,
    images: np.ndarray,
    prob_fn: Callable[[Any], Any],
    masks: np.ndarray | None = None,
    boxes: list[np.ndarray] | None = None,
    steps: int = 16,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """``{metric: (N,) float64}`` of (N, H, W) maps in [0, 1] for the explained ``classes`` (N,); NaN where an
    image lacks what the metric needs (a box, a foreground pixel)."""
    m = np.clip(np.asarray(maps, np.float32), 0.0, 1.0)
    n = len(m)
    out: dict[str, np.ndarray] = {}
    if masks is not None:
        from hrcam.evaluation.pixel_ap import pxap
        from hrcam.evaluation.segmentation import discrete_iou

        out["iou"] = np.asarray(discrete_iou(m, masks, 0.5), np.float64).reshape(n, -1)[:, 0]
        out["pxap"] = np.array([pxap(m[i : i + 1], masks[i : i + 1]) for i in range(n)], np.float64)
    if boxes is not None:
        from hrcam.evaluation.localisation import localization_scores

        has = np.array([len(b) > 0 for b in boxes])
        out["box_iou"] = np.full(n, np.nan)
        if has.any():
            idx = np.flatnonzero(has)
            out["box_iou"][idx] = localization_scores(m[idx], [boxes[i] for i in idx])["IoU"]
    if steps:
        from hrcam.evaluation.cose.faithfulness import deletion_insertion

        curves = deletion_insertion(
            prob_fn, images, m, np.asarray(classes, np.int64), steps, batch_size=batch_size
        )
        out["deletion"] = np.asarray(curves["deletion"], np.float64)
        out["insertion"] = np.asarray(curves["insertion"], np.float64)
    return out


def summarise(
    scores: dict[str, np.ndarray], maps: np.ndarray | None = None, masks: np.ndarray | None = None
) -> dict[str, float]:
    """The mean of each metric over the images with a value; PxAP pooled over every pixel of the set."""
    out = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in scores.items()}
    if "pxap" in scores and maps is not None and masks is not None:
        from hrcam.evaluation.pixel_ap import pxap

        out["pxap"] = pxap(np.clip(np.asarray(maps, np.float32), 0.0, 1.0), masks)
    return out
