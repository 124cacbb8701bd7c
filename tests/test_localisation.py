"""hrcam.evaluation.localisation: known answers on hand-made masks and boxes, and per-image references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from hrcam.evaluation.localisation import (
    binarize_casm,
    box_accuracy,
    box_iou,
    boxes_to_masks,
    default_tolerance,
    energy_pointing_game,
    localization_scores,
    mask_to_box,
    max_box_acc_v2,
    pointing_game,
)


def box_mask(shape, x0, y0, x1, y1, value=1.0):
    m = np.zeros(shape, np.float32)
    m[y0:y1, x0:x1] = value
    return m


# ------------------------------------------------------------------------------------------------
# Per-image references written from CASM's description (score.py / model_basics.py)
# ------------------------------------------------------------------------------------------------
def casm_binarize_one(m):
    flat = m.ravel()
    alpha = float(flat.mean(dtype=np.float64))
    k = 1 + int((flat.size - 1) * (1 - alpha) + 0.5)
    th = np.float32(min(max(np.sort(flat)[k - 1], np.float32(1e-6)), np.float32(1 - 1e-6)))
    return m > th


def casm_rect_one(binary):
    if not binary.any():
        return np.zeros(binary.shape)
    lab, _ = ndimage.label(binary)
    largest = np.argmax(np.bincount(lab.ravel(), weights=binary.ravel().astype(float)))
    comp = lab == largest
    rows, cols = np.nonzero(comp.any(1))[0], np.nonzero(comp.any(0))[0]
    r = np.zeros(binary.shape)
    r[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = 1
    return r


def casm_scores_one(m, gt_boxes, correct):
    H, W = m.shape
    rect = casm_rect_one(casm_binarize_one(m))
    f1s, hits, ious = [], [], []
    for x0, y0, x1, y1 in gt_boxes:
        area = (x1 - x0) * (y1 - y0)
        cx0, cy0, cx1, cy1 = (min(max(v, 0), lim) for v, lim in ((x0, W), (y0, H), (x1, W), (y1, H)))
        if cx0 == cx1 or cy0 == cy1:
            f1s.append(0.0), hits.append(0), ious.append(0.0)
            continue
        g = np.zeros((H, W))
        g[cy0:cy1, cx0:cx1] = 1
        inside = (m * g).sum()
        p, r = inside / (m.sum() + 1e-6), inside / area
        f1s.append(2 * p * r / (p + r + 1e-6))
        inter = (rect * g).sum()
        iou = inter / (rect.sum() + area - inter)
        ious.append(iou), hits.append(int(iou > 0.5))
    return dict(LE=1 - max(hits), OM=1 - max(hits) * correct, F1=max(f1s), F1a=np.mean(f1s), IoU=max(ious))


# ------------------------------------------------------------------------------------------------
# Binarisation and boxes
# ------------------------------------------------------------------------------------------------
def test_casm_binarize_keeps_the_soft_area():
    m = box_mask((16, 16), 0, 0, 8, 8)  # 64 of 256 pixels are 1: alpha = 0.25
    b = binarize_casm(m[None])[0]
    np.testing.assert_array_equal(b, m > 0)
    assert not binarize_casm(np.zeros((1, 8, 8)))[0].any()  # a zero mask stays empty
    assert binarize_casm(np.ones((1, 8, 8)))[0].all()  # th clamped to 1 - 1e-6 < 1
    rng = np.random.default_rng(0)
    soft = (ndimage.gaussian_filter(rng.random((5, 40, 40)), (0, 3, 3)) * 3 - 1).clip(0, 1).astype(np.float32)
    got = binarize_casm(soft)
    for i in range(5):
        np.testing.assert_array_equal(got[i], casm_binarize_one(soft[i]))


def test_mask_to_box_largest_4_connected_component_tight_box():
    m = np.zeros((2, 12, 12), np.float32)
    m[0, 2:6, 3:9] = 1  # 24 px: the largest -> box (3, 2, 9, 6)
    m[0, 8:11, 0:2] = 1  # 6 px
    m[0, 6, 9] = 1  # touches the big block only diagonally (8-connected, not 4)
    boxes = mask_to_box(m, rule="threshold", threshold=0.5)
    np.testing.assert_array_equal(boxes[0], [3, 2, 9, 6])
    np.testing.assert_array_equal(boxes[1], [0, 0, 0, 0])  # empty mask: zero-area box
    np.testing.assert_array_equal(mask_to_box(m, "threshold", 0.5, connectivity=8)[0], [3, 2, 10, 7])
    np.testing.assert_array_equal(mask_to_box(m)[0], [3, 2, 9, 6])  # CASM rule on a binary mask
    # equal sizes: the first component in row-major order wins (CASM's argmax)
    t = np.zeros((1, 10, 10), np.float32)
    t[0, 6:8, 0:2] = 1
    t[0, 0:2, 7:9] = 1
    np.testing.assert_array_equal(mask_to_box(t, "threshold", 0.5)[0], [7, 0, 9, 2])


def test_mask_to_box_matches_per_image_reference_on_random_masks():
    rng = np.random.default_rng(3)
    soft = ndimage.gaussian_filter(rng.random((7, 48, 48)), (0, 2, 2))
    soft = ((soft - soft.min()) / (soft.max() - soft.min())).astype(np.float32)
    soft[2] = 0  # an empty one in the middle of the batch
    boxes = mask_to_box(soft)
    for i in range(7):
        rect = casm_rect_one(casm_binarize_one(soft[i]))
        x0, y0, x1, y1 = boxes[i].astype(int)
        want = np.zeros_like(rect)
        want[y0:y1, x0:x1] = 1
        np.testing.assert_array_equal(want, rect)


def test_boxes_to_masks_rasterises_by_pixel_centres():
    masks = boxes_to_masks(
        [np.array([[2, 3, 5, 7]]), np.array([[2.4, 3.6, 5.5, 7.0], [0, 0, 1, 1]]), []], (8, 8)
    )
    np.testing.assert_array_equal(masks[0], box_mask((8, 8), 2, 3, 5, 7) > 0)
    want = (box_mask((8, 8), 2, 4, 5, 7) + box_mask((8, 8), 0, 0, 1, 1)) > 0
    np.testing.assert_array_equal(masks[1], want)
    assert not masks[2].any()
    clipped = boxes_to_masks(np.array([[-5.0, -5.0, 3.0, 20.0]]), (8, 8))[0]
    np.testing.assert_array_equal(clipped, box_mask((8, 8), 0, 0, 3, 8) > 0)


# ------------------------------------------------------------------------------------------------
# CASM's LE / OM / F1
# ------------------------------------------------------------------------------------------------
def test_localization_scores_perfect_empty_and_shifted():
    shape = (40, 40)
    maps = np.stack(
        [box_mask(shape, 5, 5, 25, 15), np.zeros(shape, np.float32), box_mask(shape, 0, 0, 10, 10)]
    )
    gt = [np.array([[5, 5, 25, 15]]), np.array([[5, 5, 25, 15]]), np.array([[5, 0, 15, 10]])]
    s = localization_scores(maps, gt, correct=[True, True, False])
    np.testing.assert_allclose(s["IoU"], [1.0, 0.0, 1 / 3])
    np.testing.assert_array_equal(s["LE"], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(s["OM"], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(s["F1"], [1.0, 0.0, 0.5], atol=1e-5)  # shifted: P = R = 0.5
    np.testing.assert_array_equal(s["boxes"][0], [5, 5, 25, 15])
    wrong = localization_scores(maps[:1], gt[:1], correct=[False])
    assert wrong["LE"][0] == 0.0 and wrong["OM"][0] == 1.0  # right box, wrong class
    assert np.isnan(localization_scores(maps[:1], gt[:1])["OM"]).all()


def test_localization_scores_unclipped_area_strict_half_and_degenerate_boxes():
    m = box_mask((20, 20), 0, 0, 10, 10)[None]
    # GT half outside the image: clipped it is the predicted box, but its area counts 200 px
    s = localization_scores(m, [np.array([[-10, 0, 10, 10]])], correct=[True])
    assert s["IoU"][0] == pytest.approx(0.5) and not s["hit"][0] and s["LE"][0] == 1.0  # IoU > 0.5 strict
    assert s["F1"][0] == pytest.approx(2 * 1 * 0.5 / 1.5, abs=1e-5)  # P = 1, R = 100 / 200
    # a box entirely outside scores 0 but still counts in F1a; the best box wins F1 and LE
    s = localization_scores(m, [np.array([[30, 30, 40, 40], [0, 0, 10, 10]])], correct=[True])
    assert s["F1"][0] == pytest.approx(1.0, abs=1e-5) and s["F1a"][0] == pytest.approx(0.5, abs=1e-5)
    assert s["LE"][0] == 0.0


def test_localization_scores_match_casm_reference_on_random_maps():
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:32, :32]
    maps, gt = [], []
    for _ in range(8):
        cy, cx, sy, sx = rng.uniform(6, 26), rng.uniform(6, 26), rng.uniform(2, 6), rng.uniform(2, 6)
        maps.append(np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2)))
        near = np.array([cx - 1.5 * sx, cy - 1.5 * sy, cx + 1.5 * sx, cy + 1.5 * sy]) + rng.integers(-3, 4, 4)
        far = rng.integers(-4, 36, 2)
        boxes = [near.astype(int), np.concatenate([far, far + rng.integers(0, 12, 2)])]
        gt.append(np.array([b for b in boxes if b[2] >= b[0] and b[3] >= b[1]]))
    maps = np.stack(maps).astype(np.float32)
    correct = rng.random(8) > 0.3
    s = localization_scores(maps, gt, correct=correct)
    assert 0 < s["hit"].sum() < 8  # both outcomes are exercised
    for i in range(8):
        ref = casm_scores_one(maps[i], gt[i].tolist(), correct[i])
        for k, v in ref.items():
            assert s[k][i] == pytest.approx(v, abs=1e-7), (i, k)


# ------------------------------------------------------------------------------------------------
# Box IoU, accuracy, MaxBoxAccV2
# ------------------------------------------------------------------------------------------------
def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    np.testing.assert_allclose(box_iou(a, b), [[1 / 3, 1, 0, 0], [0, 0, 0, 0]])


def test_box_accuracy_thresholds_are_inclusive():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    gt = [
        np.array([[5, 0, 15, 10]]),
        np.array([[0, 0, 10, 20]]),
        np.array([[50, 50, 60, 60], [0, 0, 10, 10]]),
    ]
    r = box_accuracy(pred, gt)
    np.testing.assert_allclose(r["iou"], [1 / 3, 0.5, 1.0])
    np.testing.assert_array_equal(r["hits"], [[True, False, False], [True, True, False], [True, True, True]])
    np.testing.assert_allclose(r["accuracy"], [1, 2 / 3, 1 / 3])
    multi = box_accuracy([np.array([[40, 40, 45, 45], [5, 0, 15, 10]])], [np.array([[5, 0, 15, 10]])])
    assert multi["iou"][0] == 1.0  # the best predicted box counts


def test_max_box_acc_v2_known_answers():
    shape = (20, 20)
    perfect = box_mask(shape, 4, 4, 12, 10)
    gt = [np.array([[4, 4, 12, 10]])]
    r = max_box_acc_v2(perfect[None], gt)
    assert r["MaxBoxAccV2"] == 1.0
    # a constant map: only tau = 0 gives a box, the whole image; GT covers 60 % of it -> IoU 0.6
    r = max_box_acc_v2(np.full((1, 20, 20), 0.3, np.float32), [np.array([[0, 0, 12, 20]])])
    np.testing.assert_allclose(r["best_iou"][0], [0.6])
    np.testing.assert_array_equal(r["box_acc"], [1, 1, 0])
    assert r["MaxBoxAccV2"] == pytest.approx(2 / 3)
    # two blobs: the big one (0.9) is wrong, the small bright one (1.0) is the object
    two = box_mask(shape, 0, 0, 10, 10, 0.9) + box_mask(shape, 14, 14, 18, 18, 1.0)
    gt_small = [np.array([[14, 14, 18, 18]])]
    assert max_box_acc_v2(two[None], gt_small)["MaxBoxAccV2"] == 1.0
    largest = max_box_acc_v2(two[None], gt_small, multi_contour=False)  # only for tau in (0.9, 1)
    assert largest["MaxBoxAccV2"] == 1.0 and largest["best_threshold"][0] > 0.9
    at_half = dict(thresholds=[0.5])  # both blobs: V2 counts every component, MaxBoxAcc the largest
    assert max_box_acc_v2(two[None], gt_small, **at_half)["MaxBoxAccV2"] == 1.0
    assert max_box_acc_v2(two[None], gt_small, multi_contour=False, **at_half)["MaxBoxAccV2"] == 0.0


# ------------------------------------------------------------------------------------------------
# Pointing games
# ------------------------------------------------------------------------------------------------
def test_pointing_game_tolerance_just_inside_and_just_outside():
    H = W = 224
    gt = np.zeros((1, H, W), bool)
    gt[0, 100, 100] = True  # a one-pixel object
    assert default_tolerance((224, 224)) == 15.0

    def play(x, y, **kw):
        m = np.zeros((1, H, W), np.float32)
        m[0, y, x] = 1
        return pointing_game(m, gt, **kw)

    assert play(114, 100)["hit"][0]  # d = 14: just inside
    assert play(108, 112)["hit"][0]  # (8, 12): d^2 = 208 < 225
    assert not play(115, 100)["hit"][0]  # d = 15 exactly: a miss (strict, as TorchRay)
    assert not play(109, 112)["hit"][0]  # (9, 12): d = 15 exactly
    assert not play(100, 116)["hit"][0]  # d = 16: outside
    assert play(115, 100, tolerance=15.5)["hit"][0]
    r = play(114, 100)
    np.testing.assert_array_equal(r["point"], [[114, 100]])  # (x, y)
    # scaled with the image: 30 px at 448 x 448
    big = np.zeros((1, 448, 448), bool)
    big[0, 200, 200] = True
    m = np.zeros((1, 448, 448), np.float32)
    m[0, 200, 229] = 1
    assert pointing_game(m, big)["hit"][0] and pointing_game(m, big)["tolerance"] == 30.0
    m[0, 200, 229], m[0, 200, 230] = 0, 1
    assert not pointing_game(m, big)["hit"][0]


def test_pointing_game_class_mean_and_empty_ground_truth():
    gt = np.zeros((4, 32, 32), bool)
    gt[:, 10:20, 10:20] = True
    gt[3] = False  # no object: not scored
    m = np.zeros((4, 32, 32), np.float32)
    m[0, 15, 15] = m[1, 15, 15] = 1  # hits
    m[2, 31, 0] = 1  # miss
    m[3, 15, 15] = 1
    r = pointing_game(m, gt, tolerance=2)
    np.testing.assert_array_equal(r["hit"], [True, True, False, False])
    np.testing.assert_array_equal(r["valid"], [True, True, True, False])
    assert r["accuracy"] == pytest.approx(2 / 3)
    r = pointing_game(m, gt, tolerance=2, classes=np.array([0, 0, 1, 1]))
    assert r["class_accuracy"] == {0: 1.0, 1: 0.0} and r["accuracy"] == 0.5  # mean of per-class accuracies


def test_energy_pointing_game_known_values():
    gt = np.zeros((3, 10, 10), bool)
    gt[:, :, :4] = True  # 40 % of the image
    m = np.stack([np.ones((10, 10)), gt[1] * 0.7, np.zeros((10, 10))]).astype(np.float32)
    np.testing.assert_allclose(energy_pointing_game(m, gt), [0.4, 1.0, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        energy_pointing_game(m - 0.5, gt)


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    m = np.zeros((2, 8, 8), np.float32)
    gt = [np.array([[0, 0, 4, 4]])] * 2
    with pytest.raises(ValueError, match=r"`maps` must be in \[0, 1\]"):
        localization_scores(m + 2, gt)
    with pytest.raises(ValueError, match=r"single map\? add a batch axis"):
        localization_scores(m[0], gt)
    with pytest.raises(ValueError, match="`gt_boxes` has 1 entries but there are 2 maps"):
        localization_scores(m, gt[:1])
    with pytest.raises(ValueError, match=r"`gt_boxes\[1\]` has no box"):
        localization_scores(m, [gt[0], np.zeros((0, 4))])
    with pytest.raises(ValueError, match="max >= min"):
        localization_scores(m, [gt[0], np.array([[5, 0, 1, 4]])])
    with pytest.raises(ValueError, match=r"`correct` must have shape \(2,\)"):
        localization_scores(m, gt, correct=[True])
    with pytest.raises(ValueError, match="`threshold` must be None with rule='casm'"):
        mask_to_box(m, threshold=0.5)
    with pytest.raises(ValueError, match="needs a `threshold`"):
        mask_to_box(m, rule="threshold")
    with pytest.raises(ValueError, match="`rule` must be 'casm' or 'threshold'"):
        mask_to_box(m, rule="otsu")
    with pytest.raises(ValueError, match="`connectivity` must be 4 or 8"):
        mask_to_box(m, connectivity=6)
    with pytest.raises(ValueError, match=r"`gt_masks` must have the maps' shape \(2, 8, 8\)"):
        pointing_game(m, np.zeros((2, 8, 9), bool))
    with pytest.raises(ValueError, match=r"`tolerance` must be in \[0, inf\]"):
        pointing_game(m, np.ones((2, 8, 8), bool), tolerance=-1)
    bad = m.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pointing_game(bad, np.ones((2, 8, 8), bool))
    with pytest.raises(ValueError, match="iou_thresholds"):
        max_box_acc_v2(m, gt, iou_thresholds=(1.5,))
    assert math.isnan(pointing_game(m, np.zeros((2, 8, 8), bool))["accuracy"])
