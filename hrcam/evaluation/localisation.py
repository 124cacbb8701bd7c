"""Localisation metrics, vectorised over a batch: masks to boxes, CASM's LE/OM/F1, box accuracy at IoU
thresholds and MaxBoxAccV2. The pointing games are in :mod:`hrcam.evaluation.pointing` (re-exported here),
``boxes_to_masks`` in :mod:`hrcam.arrays` (re-exported here).

**Box convention**: hrcam's one convention (:mod:`hrcam.arrays`), float ``(x_min, y_min, x_max, y_max)``
in pixel-edge coordinates: a box covers the pixels whose centres lie in ``[x_min, x_max) x [y_min,
y_max)``, its area is ``(x_max - x_min) * (y_max - y_min)``, and an integer box ``(x0, y0, x1, y1)`` is the
slice ``[y0:y1, x0:x1]``, exactly how CASM's ``score.py`` rasterises its ground-truth boxes (pass boxes
already scaled to the map's resolution, e.g. by CASM's Resize(224) + CenterCrop mapping, truncated to
ints as CASM does for an exact reproduction).

**Ground truth** is one entry per image: a list of B array-likes of shape (n_i, 4) (several boxes per
image; n_i >= 1 for the box metrics), or an array (B, 4) (one box each) or (B, n, 4).

Only NumPy/SciPy: TensorFlow tensors are accepted (converted) but never imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from hrcam.arrays import (
    batch_boxes,
    check_boxes,
    check_maps,
    check_real,
    describe,
    minmax,
    raster_ranges,
    to_array,
)
from hrcam.arrays import boxes_to_masks as boxes_to_masks
from hrcam.evaluation.pointing import default_tolerance as default_tolerance
from hrcam.evaluation.pointing import energy_pointing_game as energy_pointing_game
from hrcam.evaluation.pointing import pointing_game as pointing_game

__all__ = [
    "binarize_casm",
    "mask_to_box",
    "box_iou",
    "localization_scores",
    "box_accuracy",
    "max_box_acc_v2",
]

_CASM_EPS = 1e-6  # CASM's epsilon in the F1 formula and the threshold clamp


def _check_connectivity(connectivity: Any) -> int:
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(f"`connectivity` must be 4 or 8, got {connectivity!r}")
    return int(connectivity)


# --------------------------------------------------------------------------------------------------
# Masks -> boxes
# --------------------------------------------------------------------------------------------------
def binarize_casm(maps: Any) -> np.ndarray:
    """CASM's binarisation: keep about the top-alpha fraction of pixels, alpha = the mask's mean.

    Per map m with N pixels: alpha = mean(m); k = 1 + int((N - 1) * (1 - alpha) + 0.5); th = the k-th
    smallest value clamped to [1e-6, 1 - 1e-6]; the binary mask is ``m > th``. The binary area is
    therefore about the soft area, and a zero mask gives an empty binary mask.

    Args:
        maps: (B, H, W) soft masks in [0, 1].

    Returns:
        (B, H, W) bool.
    """
    m = check_maps(maps, unit=True)
    return _binarize_casm(m)


def _binarize_casm(m: np.ndarray) -> np.ndarray:
    B = m.shape[0]
    flat = m.reshape(B, -1)
    N = flat.shape[1]
    alpha = flat.mean(axis=1, dtype=np.float64)
    k = 1 + np.floor((N - 1) * (1.0 - alpha) + 0.5).astype(np.int64)  # int() of a positive number
    th = np.sort(flat, axis=1)[np.arange(B), np.clip(k, 1, N) - 1]
    th = np.clip(th, np.float32(_CASM_EPS), np.float32(1 - _CASM_EPS)).astype(np.float32)
    return m > th[:, None, None]


def _structure(connectivity: int) -> np.ndarray:
    """3-D structuring element: in-plane 4/8-connectivity, nothing across the batch axis."""
    s = np.zeros((3, 3, 3), dtype=bool)
    s[1] = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    return s


def _largest_component_boxes(binary: np.ndarray, connectivity: int) -> np.ndarray:
    """Tight box of the largest connected component of each (H, W) mask; (0, 0, 0, 0) when empty.

    One ``ndimage.label`` call labels the whole stack (no connectivity across the batch axis), so the
    labels of image b follow those of image b - 1; ties between equal sizes go to the component met first
    in row-major order (CASM's ``argmax`` of the label histogram).
    """
    B, H, W = binary.shape
    boxes = np.zeros((B, 4), dtype=np.float64)
    labels, n = ndimage.label(binary, structure=_structure(connectivity))
    if n == 0:
        return boxes
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    ends = np.maximum.accumulate(labels.reshape(B, -1).max(axis=1))
    starts = np.concatenate([[0], ends[:-1]])
    owner = np.repeat(np.arange(B), ends - starts)
    lab = np.arange(1, n + 1)
    order = np.lexsort((lab, -sizes, owner))
    first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    best = np.zeros(B, dtype=labels.dtype)
    best[owner[first]] = lab[first]
    comp = (labels == best[:, None, None]) & (best > 0)[:, None, None]
    rows, cols = comp.any(axis=2), comp.any(axis=1)
    has = best > 0
    r0 = rows.argmax(axis=1)
    r1 = H - rows[:, ::-1].argmax(axis=1)
    c0 = cols.argmax(axis=1)
    c1 = W - cols[:, ::-1].argmax(axis=1)
    boxes[has] = np.stack([c0, r0, c1, r1], axis=1)[has]
    return boxes


def mask_to_box(
    masks: Any, rule: str = "casm", threshold: float | None = None, connectivity: int = 4
) -> np.ndarray:
    """Box of the largest connected component of each binarised mask.

    Args:
        masks: (B, H, W) maps in [0, 1] (bool accepted).
        rule: ``"casm"``: CASM's top-alpha binarisation (:func:`binarize_casm`; ``threshold`` must be
            None); ``"threshold"``: ``masks >= threshold`` (the CAM protocol uses 0.2 of the max, i.e.
            0.2 on min-max normalised maps).
        threshold: the fixed threshold in [0, 1] for ``rule="threshold"``.
        connectivity: 4 (CASM, ``scipy.ndimage.label``'s default) or 8.

    Returns:
        (B, 4) float64 boxes ``(x_min, y_min, x_max, y_max)`` (pixel edges, see the module docstring);
        an empty binary mask gives the zero-area box (0, 0, 0, 0).
    """
    m = check_maps(masks, "masks", unit=True)
    connectivity = _check_connectivity(connectivity)
    if rule == "casm":
        if threshold is not None:
            raise ValueError(
                f"`threshold` must be None with rule='casm' (CASM picks its own), got {threshold!r}"
            )
        binary = _binarize_casm(m)
    elif rule == "threshold":
        if threshold is None:
            raise ValueError("rule='threshold' needs a `threshold` in [0, 1], got None")
        binary = m >= np.float32(check_real("threshold", threshold, 0.0, 1.0))
    else:
        raise ValueError(f"`rule` must be 'casm' or 'threshold', got {rule!r}")
    return _largest_component_boxes(binary, connectivity)


# --------------------------------------------------------------------------------------------------
# Box metrics
# --------------------------------------------------------------------------------------------------
def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geometric IoU of boxes a (..., 4) and b (..., 4), broadcast; 0 when the union is empty."""
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (
        b[..., 3] - b[..., 1]
    )
    union = union - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """Pairwise IoU of two box sets in pixel-edge coordinates (area = width * height, no +1).

    Args:
        boxes_a: (N, 4); boxes_b: (M, 4) as ``(x_min, y_min, x_max, y_max)``.

    Returns:
        (N, M) float64 in [0, 1]; 0 where both boxes have zero area.
    """
    a = check_boxes(boxes_a, "boxes_a")
    b = check_boxes(boxes_b, "boxes_b")
    return _pair_iou(a[:, None, :], b[None, :, :])


def _segments_max(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.maximum.reduceat(values, starts)


def localization_scores(
    maps: Any,
    gt_boxes: Any,
    correct: Any = None,
    *,
    rule: str = "casm",
    threshold: float | None = None,
) -> dict[str, np.ndarray]:
    """CASM's localisation scores (``score.py``), per image, vectorised over the batch.

    Per ground-truth box G (rasterised by pixel centres, clipped to the map; ``area(G)`` is the
    **unclipped** area; a box that is empty after clipping scores F1 = 0 and IoU = 0):

    * F1 from the continuous map m: ``P = sum(m * G) / (sum(m) + 1e-6)``, ``R = sum(m * G) / area(G)``,
      ``F1 = 2 P R / (P + R + 1e-6)``;
    * IoU of the rectangle r (the filled box of :func:`mask_to_box`):
      ``sum(r * G) / (sum(r) + area(G) - sum(r * G))``; a hit is ``IoU > 0.5`` (strict).

    Per image: ``LE = 1 - max hit``, ``OM = 1 - max hit * correct``, ``F1 = max``, ``F1a = mean`` over
    boxes. Average over images for the reported figures.

    Args:
        maps: (B, H, W) soft masks / normalised CAMs in [0, 1].
        gt_boxes: one entry of (n_i >= 1, 4) boxes per image, at the maps' resolution.
        correct: (B,) bools, whether the classifier's top-1 was right; None gives OM = NaN.
        rule, threshold: how maps become rectangles (see :func:`mask_to_box`; CASM's rule by default).

    Returns:
        dict of (B,) arrays: ``LE``, ``OM``, ``F1``, ``F1a``, ``IoU`` (best rectangle IoU), ``hit``
        (bool) and ``boxes`` (B, 4), the predicted rectangles.
    """
    m = check_maps(maps, unit=True)
    B, H, W = m.shape
    boxes = mask_to_box(m, rule=rule, threshold=threshold)
    gt, owner, counts = batch_boxes(gt_boxes, B, "gt_boxes")
    if correct is not None:
        corr = to_array(correct, "correct")
        if corr.shape != (B,):
            raise ValueError(f"`correct` must have shape ({B},), got {describe(corr)}")
        corr = corr.astype(bool)

    c0, r0, c1, r1 = raster_ranges(gt, H, W)
    degenerate = (c1 <= c0) | (r1 <= r0)
    area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    integral = np.zeros((B, H + 1, W + 1), dtype=np.float64)
    np.cumsum(np.cumsum(m, axis=1, dtype=np.float64), axis=2, out=integral[:, 1:, 1:])
    inside = (
        integral[owner, r1, c1] - integral[owner, r0, c1] - integral[owner, r1, c0] + integral[owner, r0, c0]
    )
    total = integral[owner, H, W]
    safe_area = np.where(area > 0, area, 1.0)
    precision = inside / (total + _CASM_EPS)
    recall = inside / safe_area
    f1 = np.where(degenerate, 0.0, 2 * precision * recall / (precision + recall + _CASM_EPS))

    pb = boxes[owner]
    rect = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
    iw = np.clip(np.minimum(pb[:, 2], c1) - np.maximum(pb[:, 0], c0), 0, None)
    ih = np.clip(np.minimum(pb[:, 3], r1) - np.maximum(pb[:, 1], r0), 0, None)
    inter = iw * ih
    iou = np.where(degenerate, 0.0, inter / np.where(degenerate, 1.0, rect + area - inter))
    hit = iou > 0.5

    best_hit = _segments_max(hit.astype(np.float64), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = {
        "LE": 1.0 - best_hit,
        "OM": 1.0 - best_hit * corr if correct is not None else np.full(B, np.nan),
        "F1": _segments_max(f1, counts),
        "F1a": np.add.reduceat(f1, starts) / counts,
        "IoU": _segments_max(iou, counts),
        "hit": best_hit.astype(bool),
        "boxes": boxes,
    }
    return out


def _pad_boxes(flat: np.ndarray, owner: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(G, 4) grouped by image -> (B, max n, 4) padded with NaN."""
    B = counts.shape[0]
    pad = np.full((B, max(int(counts.max(initial=0)), 1), 4), np.nan)
    pos = np.arange(len(flat)) - np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    pad[owner, pos] = flat
    return pad


def box_accuracy(
    pred_boxes: Any, gt_boxes: Any, thresholds: Sequence[float] = (0.3, 0.5, 0.7)
) -> dict[str, np.ndarray]:
    """Box accuracy at IoU thresholds: an image is correct when ``max IoU(pred, GT) >= t``.

    Args:
        pred_boxes: (B, 4) (one box per image) or one (k_i, 4) entry per image (best pair counts).
        gt_boxes: one (n_i >= 1, 4) entry per image.
        thresholds: IoU thresholds in [0, 1].

    Returns:
        dict with ``iou`` (B,) best IoU, ``hits`` (B, T) bool, ``accuracy`` (T,) mean of ``hits`` and
        ``thresholds`` (T,).
    """
    thr = np.asarray([check_real("thresholds", t, 0.0, 1.0) for t in thresholds], dtype=np.float64)
    if thr.size == 0:
        raise ValueError("`thresholds` is empty")
    if isinstance(pred_boxes, np.ndarray) and pred_boxes.ndim == 2:
        batch = pred_boxes.shape[0]
    else:
        batch = len(pred_boxes)
    pf, po, pc = batch_boxes(pred_boxes, batch, "pred_boxes", allow_empty=True)
    gf, go, gc = batch_boxes(gt_boxes, batch, "gt_boxes")
    pp = _pad_boxes(pf, po, pc)  # (B, P, 4)
    gp = _pad_boxes(gf, go, gc)  # (B, G, 4)
    iou = _pair_iou(pp[:, :, None, :], gp[:, None, :, :])  # NaN padding gives NaN -> 0 below
    iou = np.where(np.isnan(iou), 0.0, iou).reshape(batch, -1).max(axis=1)
    hits = iou[:, None] >= thr[None, :]
    return {"iou": iou, "hits": hits, "accuracy": hits.mean(axis=0), "thresholds": thr}


def max_box_acc_v2(
    maps: Any,
    gt_boxes: Any,
    thresholds: Sequence[float] | None = None,
    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
    *,
    multi_contour: bool = True,
    connectivity: int = 8,
) -> dict[str, Any]:
    """MaxBoxAccV2 (Choe et al., CVPR 2020): box accuracy at the best CAM threshold, averaged over IoU
    thresholds.

    Each map is min-max normalised; for every CAM threshold tau, ``map >= tau`` is split into connected
    components, each gives its tight box, and an image is correct at IoU threshold delta when the best
    (component box, GT box) IoU is ``>= delta``. BoxAcc(delta) = max over tau of the mean over images;
    MaxBoxAccV2 = mean over delta. With ``multi_contour=False`` only the largest component counts (the
    original MaxBoxAcc). Components are 8-connected (as OpenCV's outer contours; hole contours, which
    wsolevaluation's ``RETR_TREE`` also returns, are not boxes here) and boxes use pixel-edge
    coordinates, i.e. wsolevaluation's inclusive ``+1`` areas.

    Args:
        maps: (B, H, W) real maps (normalised per image here).
        gt_boxes: one (n_i >= 1, 4) entry per image.
        thresholds: CAM thresholds; None: ``np.arange(0, 1, 0.01)`` (wsolevaluation's default).
        iou_thresholds: the deltas.
        multi_contour: every component (V2) or only the largest.
        connectivity: 8 (default) or 4.

    Returns:
        dict with ``MaxBoxAccV2`` (float, in [0, 1]), ``box_acc`` (n_delta,) BoxAcc per delta,
        ``best_threshold`` (n_delta,) the tau reaching it, ``accuracy`` (n_delta, n_tau) the whole curve,
        ``best_iou`` (n_tau, B), ``thresholds`` and ``iou_thresholds``.
    """
    m = minmax(check_maps(maps))
    B = m.shape[0]
    connectivity = _check_connectivity(connectivity)
    taus = np.arange(0.0, 1.0, 0.01) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if taus.ndim != 1 or taus.size == 0 or not np.all(np.isfinite(taus)):
        raise ValueError(f"`thresholds` must be a non-empty 1-D sequence of numbers, got {thresholds!r}")
    deltas = np.asarray([check_real("iou_thresholds", t, 0.0, 1.0) for t in iou_thresholds])
    if deltas.size == 0:
        raise ValueError("`iou_thresholds` is empty")
    gf, go, gc = batch_boxes(gt_boxes, B, "gt_boxes")
    gp = _pad_boxes(gf, go, gc)
    struct = _structure(connectivity)
    best = np.zeros((taus.size, B), dtype=np.float64)
    for j, tau in enumerate(taus):  # one labelling of the whole batch per threshold
        binary = m >= np.float32(tau)
        if not multi_contour:
            comp_boxes = _largest_component_boxes(binary, connectivity)
            owner = np.arange(B)
        else:
            labels, n = ndimage.label(binary, structure=struct)
            if n == 0:
                continue
            objs = ndimage.find_objects(labels)
            arr = np.array([(s[0].start, s[2].start, s[1].start, s[2].stop, s[1].stop) for s in objs])
            owner, comp_boxes = arr[:, 0], arr[:, 1:].astype(np.float64)
        iou = _pair_iou(comp_boxes[:, None, :], gp[owner])
        comp_best = np.where(np.isnan(iou), 0.0, iou).max(axis=1)
        np.maximum.at(best[j], owner, comp_best)
    accuracy = (best[None, :, :] >= deltas[:, None, None]).mean(axis=2)  # (n_delta, n_tau)
    box_acc = accuracy.max(axis=1)
    return {
        "MaxBoxAccV2": float(box_acc.mean()),
        "box_acc": box_acc,
        "best_threshold": taus[accuracy.argmax(axis=1)],
        "accuracy": accuracy,
        "best_iou": best,
        "thresholds": taus,
        "iou_thresholds": deltas,
    }
