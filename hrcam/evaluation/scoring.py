"""Score map sources against ground truth: the engine behind ``hrcam score``.

Every map source of :mod:`hrcam.sources` is scored the same way, by name (``center``, ``ones``, ``cam``,
``high_res_cam``, ``guided_cam``, ``refined``, ``gradcam``, ``casm:masker=M.keras``, ...), with options as
``NAME:key=value,key=value`` (e.g. ``guided_cam:source=gradcam``): each gives (N, H, W) maps at the images'
resolution for the target class of each image: the ground-truth class (default, the weakly supervised
localisation protocol) or the predicted one. Scores: CASM's LE, OM, F1 (best and mean over boxes), box
accuracy at IoU 0.3/0.5/0.7 of CASM's box, MaxBoxAccV2 (Choe et al.: all contours, thresholds step 0.01,
IoU 0.3/0.5/0.7, each also reported), the pointing game (15 px at 224, scaled) and the energy pointing
game; with per-pixel ground truth also PxAP (Choe et al.) and the Explainer's segmentation scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ScoringData", "method_maps", "score_maps", "score_methods"]


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


def method_maps(
    method: str,
    model: Any,
    images: np.ndarray,
    targets: np.ndarray,
    *,
    workers: int | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """(N, H, W) float32 maps of the map source ``method`` (a :mod:`hrcam.sources` spec) on ``model`` for
    ``targets`` (N,), at the images' resolution.

    ``workers`` goes to sources that take it (``refined``); ``model`` is whatever the source needs (a
    HalfModel / FullModel / Keras classifier, or None for ``casm``).
    """
    from hrcam import sources

    options: dict[str, Any] = {"batch_size": batch_size}
    if "workers" in sources.option_names(method):
        options["workers"] = workers
    return np.asarray(sources.get(method, model, **options).run(images, targets).maps, np.float32)


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


def score_methods(
    model: Any,
    data: ScoringData,
    methods: list[str],
    *,
    target: str = "label",
    workers: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Scores of every method in ``methods`` (see the module docstring).

    Returns ``{"methods": {name: {metric: value}}, "top1_accuracy": float, "num_images": N, "target": ...}``.
    """
    if target not in ("label", "predicted"):
        raise ValueError(f"`target` must be 'label' or 'predicted', got {target!r}")
    if not methods:
        raise ValueError("`methods` is empty: name at least one map source (e.g. cam, high_res_cam, center)")
    from hrcam import sources
    from hrcam.evaluation.mask_stats import mask_statistics

    labels = np.asarray(data.labels)
    table, top1 = {}, {}
    for method in methods:
        if progress:
            print(f"[hrcam score] {method} ...", flush=True)
        options: dict[str, Any] = {"batch_size": batch_size}
        if "workers" in sources.option_names(method):
            options["workers"] = workers
        source = sources.get(method, model, **options)
        # each source's own predictions: OM is scored with the classifier the maps come from (a CASM
        # masker carries its own), and target="predicted" explains that classifier's class
        res = source.run(data.images, labels if target == "label" else None)
        correct = np.asarray(res.preds).argmax(1) == labels
        maps = np.clip(np.asarray(res.maps, np.float32), 0.0, 1.0)
        table[method] = {**score_maps(maps, data, correct), **mask_statistics(maps)}
        table[method]["top1"] = top1[method] = float(correct.mean())
    return {
        "methods": table,
        "top1_accuracy": next(iter(top1.values())),
        "num_images": int(len(labels)),
        "target": target,
    }
