"""Pointing games, vectorised over a batch: TorchRay's pointing game and the energy-based pointing game.

Ground-truth objects are (B, H, W) bool masks (e.g. :func:`hrcam.arrays.boxes_to_masks` of the class's
boxes). NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hrcam.arrays import check_maps, check_masks, check_real, describe, to_array

__all__ = ["pointing_game", "energy_pointing_game", "default_tolerance"]


def default_tolerance(shape: Sequence[int]) -> float:
    """The pointing game's tolerance: 15 px at 224 x 224, scaled by sqrt(H * W) / 224."""
    return 15.0 * math.sqrt(shape[0] * shape[1]) / 224.0


# --------------------------------------------------------------------------------------------------
# Pointing games
# --------------------------------------------------------------------------------------------------
def pointing_game(
    maps: Any, gt_masks: Any, tolerance: float | None = None, classes: Any = None
) -> dict[str, Any]:
    """The pointing game with TorchRay's protocol (Zhang et al., IJCV 2018).

    The point is each map's maximum (the first in row-major order on ties). It is a hit when some
    ground-truth pixel q satisfies ``|p - q|^2 < tolerance^2`` (strict, as TorchRay's ``PointingGame``).
    Images whose ground-truth mask is empty are not scored (``valid`` False).

    Args:
        maps: (B, H, W) real saliency maps at the image's resolution.
        gt_masks: (B, H, W) bool object masks (e.g. :func:`boxes_to_masks` of the class's boxes).
        tolerance: pixels; None: 15 at 224 x 224, scaled by sqrt(H * W) / 224 (:func:`default_tolerance`).
        classes: optional (B,) class ids of the (image, class) pairs: the accuracy is then TorchRay's
            mean of per-class accuracies (over the classes present).

    Returns:
        dict with ``hit`` (B,) bool, ``point`` (B, 2) int (x, y), ``valid`` (B,) bool, ``tolerance``,
        ``accuracy`` (float; NaN when nothing is valid) and, with ``classes``, ``class_accuracy``
        ({class: accuracy}).
    """
    m = check_maps(maps)
    B, H, W = m.shape
    gt = check_masks(gt_masks, "gt_masks", m.shape)
    tol = (
        default_tolerance((H, W)) if tolerance is None else check_real("tolerance", tolerance, 0.0, math.inf)
    )
    idx = m.reshape(B, -1).argmax(axis=1)
    py, px = np.divmod(idx, W)
    d2 = (np.arange(H)[None, :, None] - py[:, None, None]) ** 2 + (
        np.arange(W)[None, None, :] - px[:, None, None]
    ) ** 2
    hit = ((d2 < tol * tol) & gt).reshape(B, -1).any(axis=1)
    valid = gt.reshape(B, -1).any(axis=1)
    out: dict[str, Any] = {
        "hit": hit & valid,
        "point": np.stack([px, py], axis=1),
        "valid": valid,
        "tolerance": tol,
    }
    if classes is None:
        out["accuracy"] = float(hit[valid].mean()) if valid.any() else math.nan
    else:
        cls = to_array(classes, "classes")
        if cls.shape != (B,) or cls.dtype.kind not in "iu":
            raise ValueError(f"`classes` must be ({B},) integer class ids, got {describe(cls)}")
        per_class = {int(c): float(hit[valid & (cls == c)].mean()) for c in np.unique(cls[valid])}
        out["class_accuracy"] = per_class
        out["accuracy"] = float(np.mean(list(per_class.values()))) if per_class else math.nan
    return out


def energy_pointing_game(maps: Any, gt_masks: Any) -> np.ndarray:
    """Energy-based pointing game (Score-CAM, Wang et al. 2020): the share of the map's mass on the object.

    ``sum(m * gt) / sum(m)`` per image (Quantus' RelevanceMassAccuracy); an all-zero map scores 0.

    Args:
        maps: (B, H, W) non-negative saliency maps (clip or normalise raw CAMs first).
        gt_masks: (B, H, W) bool object masks (e.g. the union of the class's boxes).

    Returns:
        (B,) float64 in [0, 1].
    """
    m = check_maps(maps)
    if float(m.min()) < 0:
        raise ValueError(f"`maps` must be non-negative for the energy game, got min {float(m.min()):.4g}")
    gt = check_masks(gt_masks, "gt_masks", m.shape)
    B = m.shape[0]
    total = m.reshape(B, -1).sum(axis=1, dtype=np.float64)
    inside = np.where(gt, m, 0).reshape(B, -1).sum(axis=1, dtype=np.float64)
    return np.divide(inside, total, out=np.zeros(B), where=total > 0)
