"""Score saliency methods against ground truth: the engine behind ``hrcam score``.

Each method turns a batch of images into (N, H, W) maps in [0, 1] at the images' resolution:

* ``center``: a centred isotropic Gaussian (sigma = a quarter of the image side), the same for every image;
* ``full``: the whole image (an all-ones map);
* ``cam``: the classifier's low-res CAM, bilinearly up-sampled;
* ``hrcam``: the FullModel's high-res CAM;
* ``refined``: the HR-CAM refinement pipeline's ``merged`` map (:func:`hrcam.postprocessing.refine`);
* ``guided``: the low-res CAM up-sampled with the image as guide (``generate_cams(guided=True)``,
  :mod:`hrcam.ops.guided`, parameters chosen on a validation split); ``refined_guided``: the pipeline on it;
* any method of :mod:`hrcam.saliency` (``gradcam``, ``gradcam++``, ``layercam``, ``guidedgradcam``,
  ``guided_cam``, ``multilayercam``, ...), with options as ``NAME:key=value,key=value``
  (e.g. ``guided_cam:source=gradcam``).

Maps are computed for the target class of each image: the ground-truth class (default, the weakly supervised
localisation protocol) or the predicted one. Scores: CASM's LE, OM, F1 (best and mean over boxes), box
accuracy at IoU 0.3/0.5/0.7 of CASM's box, MaxBoxAccV2 (Choe et al.: all contours, thresholds step 0.01,
IoU 0.3/0.5/0.7, each also reported), the pointing game (15 px at 224, scaled) and the energy pointing
game; with per-pixel ground truth also PxAP (Choe et al.) and the Explainer's segmentation scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hrcam.arrays import minmax, resize_maps

__all__ = [
    "ScoringData",
    "BASELINES",
    "MODEL_METHODS",
    "method_maps",
    "score_maps",
    "score_methods",
    "upsample_maps",
]

BASELINES = ("center", "full")
MODEL_METHODS = ("cam", "hrcam", "refined", "guided", "refined_guided")


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


def _center_map(n: int, h: int, w: int) -> np.ndarray:
    y = (np.arange(h) + 0.5 - h / 2) / (h / 4)
    x = (np.arange(w) + 0.5 - w / 2) / (w / 4)
    g = np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)
    g = (g - g.min()) / (g.max() - g.min())
    return np.broadcast_to(g, (n, h, w)).copy()


def _max_box_acc(result: dict[str, Any]) -> dict[str, float]:
    out = {"MaxBoxAccV2": float(result["MaxBoxAccV2"])}
    for delta, acc in zip(result["iou_thresholds"], result["box_acc"]):
        out[f"MaxBoxAcc@{delta:.1f}"] = float(acc)
    return out


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps -> (N, H, W) float32 in [0, 1]: bilinear up-sampling, then min-max per map (the
    ``cam`` method's low-res CAM at the image size)."""
    return minmax(resize_maps(maps, size))


def method_maps(
    method: str,
    model: Any,
    images: np.ndarray,
    targets: np.ndarray,
    *,
    workers: int | None = None,
    batch_size: int = 32,
    cache: dict | None = None,
) -> np.ndarray:
    """(N, H, W) float32 maps in [0, 1] of ``method`` for ``targets`` (N,) (see the module docstring).

    ``model`` is a :class:`~hrcam.highres.FullModel` (all methods) or :class:`~hrcam.highres.HalfModel` (all
    but ``hrcam`` and ``refined``). ``cache`` shares the CAM forward pass between ``cam``, ``hrcam`` and
    ``refined``.
    """
    n, h, w = images.shape[:3]
    key = method.lower()
    if key == "center":
        return _center_map(n, h, w)
    if key == "full":
        return np.ones((n, h, w), np.float32)
    cache = {} if cache is None else cache
    if key in MODEL_METHODS:
        if "low" not in cache:
            maps = model.generate_cams(images, custom_class=targets, batch_size=batch_size, guided=True)
            if hasattr(model, "high_res_cam"):
                cache["high"] = maps[0]
            cache["low"], cache["guided"] = maps[-3], maps[-2]
        if key == "cam":
            return upsample_maps(cache["low"], (h, w))
        if key in ("guided", "refined_guided"):
            return _guided_maps(key, images, cache, workers)
        if "high" not in cache:
            raise ValueError(
                f"method {method!r} needs a FullModel (high-res CAMs); got a {type(model).__name__}"
            )
        if key == "hrcam":
            return cache["high"]
        from hrcam.postprocessing import refine

        merged = refine(images, cache["low"], cache["high"], workers=workers, keys=("merged",))["merged"]
        return np.asarray(merged, np.float32)
    from hrcam.saliency import saliency

    classifier = getattr(model, "half_model", model).model  # a FullModel's classifier view (one output)
    name, options = _method_options(method)
    explainer = saliency(classifier, method=name, batch_size=batch_size, **options)
    _, maps = explainer(images, target_class=targets)
    return np.asarray(maps, np.float32)


def _guided_maps(key: str, images: np.ndarray, cache: dict, workers: int | None) -> np.ndarray:
    if key == "guided":
        return np.asarray(cache["guided"], np.float32)
    from hrcam.postprocessing import refine

    merged = refine(images, cache["low"], cache["guided"], workers=workers, keys=("merged",))["merged"]
    return np.asarray(merged, np.float32)


def _method_options(method: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` -> (name, {key: value}) (values read as YAML scalars)."""
    import yaml

    name, _, rest = method.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"method options must read NAME:key=value,key=value; got {method!r}")
        options[k.strip()] = yaml.safe_load(v)
    return name, options


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
        raise ValueError("`methods` is empty: name at least one method (e.g. cam, hrcam, refined, center)")
    probs = model.predict_proba(data.images, batch_size=batch_size)
    predicted = probs.argmax(1)
    correct = predicted == data.labels
    targets = data.labels if target == "label" else predicted
    cache: dict = {}
    table = {}
    for method in methods:
        if progress:
            print(f"[hrcam score] {method} ...", flush=True)
        maps = method_maps(
            method, model, data.images, targets, workers=workers, batch_size=batch_size, cache=cache
        )
        table[method] = score_maps(maps, data, correct)
    return {
        "methods": table,
        "top1_accuracy": float(correct.mean()),
        "num_images": int(len(data.labels)),
        "target": target,
    }
