"""hrcam.evaluation.segmentation: the Explainer's metrics on hand-made masks with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrcam.evaluation.segmentation import (
    IOU_THRESHOLDS,
    continuous_iou,
    discrete_f1,
    discrete_iou,
    roc_auc,
    saliency_metric,
    segmentation_scores,
)

N = 20


def box(x0, y0, x1, y1, value=1.0):
    m = np.zeros((N, N), np.float32)
    m[y0:y1, x0:x1] = value
    return m


GT = box(0, 0, 10, 10)  # a quarter of the image


def scores(m, s=GT):
    return {k: v[0] for k, v in segmentation_scores(m[None], s[None]).items()}


def test_perfect_mask():
    r = scores(GT)
    for k in ("continuous_iou", "discrete_iou", "soft_accuracy", "soft_f1", "discrete_f1", "auc"):
        assert r[k] == pytest.approx(1.0, abs=1e-9), k
    assert r["mask_coverage"] == 1.0 and r["background_coverage"] == 0.0 and r["overlap"] == 1.0
    assert r["sim_ratio"] == pytest.approx(1.0)


def test_empty_mask():
    r = scores(np.zeros((N, N), np.float32))
    for k in ("continuous_iou", "discrete_iou", "soft_f1", "discrete_f1", "mask_coverage", "sim_ratio"):
        assert r[k] == 0.0, k
    assert r["soft_accuracy"] == 0.75 and r["overlap"] == 0.75
    assert r["background_coverage"] == 0.0
    assert r["auc"] == 0.5  # every score tied


def test_full_and_half_masks():
    r = scores(np.ones((N, N), np.float32))
    assert r["continuous_iou"] == pytest.approx(0.25) and r["soft_accuracy"] == 0.25
    assert r["soft_f1"] == pytest.approx(2 * 0.25 / 1.25)  # P = 0.25, R = 1
    assert r["mask_coverage"] == 1.0 and r["background_coverage"] == 1.0
    r = scores(np.full((N, N), 0.5, np.float32))
    assert r["continuous_iou"] == pytest.approx(0.5 * 100 / (0.5 * 300 + 100))
    # 0.5 > t only for t = 0.1..0.4 (np.arange's 0.5 is not below 0.5): IoU 0.25 there, 0 above
    np.testing.assert_allclose(r["discrete_ious"], [0.25] * 4 + [0.0] * 5)
    assert r["discrete_iou"] == pytest.approx(1 / 9)
    assert r["mask_coverage"] == pytest.approx(0.5) and r["background_coverage"] == pytest.approx(0.5)


def test_shifted_box_known_values():
    m = box(5, 0, 15, 10)[None]
    s = GT[None]
    assert discrete_iou(m, s)[0, 0] == pytest.approx(1 / 3)
    assert discrete_f1(m, s, [0.25, 0.5])[0] == pytest.approx([0.5, 0.5])
    assert continuous_iou(m, s)[0] == pytest.approx(1 / 3)


def test_soft_ground_truth_is_binarised_at_the_same_threshold():
    s = box(0, 0, 10, 10, 0.6)[None]  # a soft segmentation
    m = box(0, 0, 10, 10, 0.9)[None]
    np.testing.assert_allclose(discrete_iou(m, s, [0.5, 0.7])[0], [1.0, 0.0])


def test_auc_matches_pairwise_definition_and_is_nan_for_one_class():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 5, (3, 6, 6)).astype(np.float32) / 4  # many ties
    s = rng.random((3, 6, 6)) > 0.6
    got = roc_auc(m, s)
    for i in range(3):
        pos, neg = m[i][s[i]], m[i][~s[i]]
        diff = pos[:, None] - neg[None, :]
        want = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
        assert got[i] == pytest.approx(want)
    assert np.isnan(roc_auc(m[:1], np.zeros((1, 6, 6), bool))).all()
    assert np.isnan(roc_auc(m[:1], np.ones((1, 6, 6), bool))).all()


def test_coverages_on_empty_and_full_ground_truth():
    r = scores(box(0, 0, 5, 5), np.zeros((N, N), np.float32))
    assert r["mask_coverage"] == 0 and math.isnan(r["auc"])
    r = scores(box(0, 0, 5, 5), np.ones((N, N), np.float32))
    assert r["background_coverage"] == 0


def test_batch_equals_single_images():
    rng = np.random.default_rng(1)
    m = rng.random((4, N, N)).astype(np.float32)
    s = (rng.random((4, N, N)) > 0.5).astype(np.float32)
    batch = segmentation_scores(m, s)
    for i in range(4):
        one = segmentation_scores(m[i : i + 1], s[i : i + 1])
        for k in batch:
            np.testing.assert_allclose(batch[k][i], one[k][0], err_msg=k)
    assert batch["discrete_ious"].shape == (4, len(IOU_THRESHOLDS)) == (4, 9)


def test_saliency_metric():
    m = np.stack([GT, box(0, 0, 2, 2)])  # areas 0.25 and 0.01 (-> 0.05)
    p = np.array([[0.1, 0.4, 0.5], [0.2, 0.2, 0.6]])
    got = saliency_metric(m, p, [2, [1, 1]])  # repeated labels are summed
    np.testing.assert_allclose(got, [math.log(0.25) - math.log(0.5), math.log(0.05) - math.log(0.4)])
    r = segmentation_scores(m, np.stack([GT, GT]), masked_probs=p, labels=np.array([2, 0]))
    np.testing.assert_allclose(r["saliency"], [math.log(0.5), math.log(0.05) - math.log(0.2)])


def test_bad_inputs_raise_clear_errors():
    m = GT[None]
    with pytest.raises(ValueError, match=r"`gt_masks` must have the maps' shape"):
        segmentation_scores(m, np.zeros((1, N, N + 1)))
    with pytest.raises(ValueError, match=r"`maps` must be in \[0, 1\]"):
        segmentation_scores(m * 3, m)
    with pytest.raises(ValueError, match="thresholds"):
        discrete_iou(m, m, 1.5)
    with pytest.raises(ValueError, match="go together"):
        segmentation_scores(m, m, labels=[1])
    with pytest.raises(ValueError, match=r"`labels\[0\]` must be class ids in \[0, 2\]"):
        saliency_metric(m, np.ones((1, 3)) / 3, [5])
    with pytest.raises(ValueError, match=r"`masked_probs` must be \(1, C\)"):
        saliency_metric(m, np.ones(3), [0])
