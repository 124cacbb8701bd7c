"""hrcam.postprocessing: the HR-CAM refinement pipeline, its step semantics and the original's bugs fixed."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from skimage import filters, morphology

from hrcam import postprocessing as pp
from hrcam.highres.refine import steps as blocks
from hrcam.postprocessing import (
    fill_small_holes,
    find_focal_points,
    pipeline,
    refine,
    region_growing,
    resize_bilinear,
)


# ------------------------------------------------------------------------------------------------
# A hand-made scene: an L-shaped object, a sharp high-res CAM peaked on it, a blurry 14x14 low-res CAM
# ------------------------------------------------------------------------------------------------
def make_scene(seed: int = 0, size: int = 224, low_size: int = 14):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    cy, cx = rng.uniform(0.4, 0.6, 2)
    obj = (((yy - cy) / 0.2) ** 2 + ((xx - cx) / 0.08) ** 2 <= 1) | (
        ((yy - cy - 0.12) / 0.07) ** 2 + ((xx - cx - 0.1) / 0.2) ** 2 <= 1
    )
    img = rng.uniform(0, 0.3, (size, size, 3)).astype(np.float32)
    img[obj] += 0.5
    dome = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05)
    high = (obj * (0.5 + 0.5 * dome) + 0.03 * rng.random((size, size))).astype(np.float32)
    f = size // low_size
    low = ndimage.gaussian_filter(obj.astype(np.float32).reshape(low_size, f, low_size, f).mean((1, 3)), 1.0)
    low = (low + 0.05 * rng.random(low.shape)).astype(np.float32)
    return img, low, high, obj


def best_iou(m: np.ndarray, obj: np.ndarray) -> float:
    return max(((m >= t) & obj).sum() / ((m >= t) | obj).sum() for t in np.linspace(0.05, 0.95, 19))


@pytest.fixture(scope="module")
def batch():
    scenes = [make_scene(s) for s in range(4)]
    return tuple(np.stack([s[i] for s in scenes]) for i in range(4))


def test_refined_cam_recovers_object_better_than_low_res(batch):
    imgs, lows, highs, objs = batch
    steps = pipeline(imgs, lows, highs)
    for i in range(len(imgs)):
        low_iou = best_iou(steps["low_resized"][i], objs[i])
        merged_iou = best_iou(steps["merged"][i], objs[i])
        assert merged_iou > low_iou + 0.04, (i, low_iou, merged_iou)
        assert steps["merged"][i].min() >= 0 and steps["merged"][i].max() <= 1


# ------------------------------------------------------------------------------------------------
# The pipeline against a plain re-implementation with the original's libraries (scipy convolve,
# skimage sobel, PIL bilinear, np.percentile, SimpleITK, skimage remove_small_holes)
# ------------------------------------------------------------------------------------------------
def reference_pipeline(img, low, high, pct=15.0):
    from PIL import Image

    def norm(a):
        a = a.astype(np.float64)
        return (a - a.min()) / (a.max() - a.min())

    H, W = high.shape
    blurred = ndimage.convolve(norm(high), np.full((5, 5), 1 / 25))
    grad = norm(filters.sobel(blurred))
    low_r = np.asarray(Image.fromarray(low.astype(np.float32), mode="F").resize((W, H), Image.BILINEAR))
    low_r = norm(low_r)
    roi = low_r > np.percentile(low_r, 85)
    lower, upper = np.percentile(grad[roi], 25), np.percentile(grad[roi], 75)
    flat = low_r.ravel()
    top = np.argsort(-flat, kind="stable")[:15]
    seeds = [(int(i % W), int(i // W)) for i in top]
    g32 = grad.astype(np.float32)
    seg = sitk.GetArrayFromImage(
        sitk.ConnectedThreshold(
            image1=sitk.GetImageFromArray(g32), seedList=seeds, lower=float(lower), upper=float(upper)
        )
    ).astype(bool)
    edges = g32 >= np.float32(upper)
    full = morphology.remove_small_holes(seg | (edges & roi), max_size=255)
    merged = 0.5 * full + 0.5 * low_r
    k = int((1 - pct / 100) * merged.size)
    keep = merged > np.sort(merged.ravel())[k]
    return dict(
        blurred=blurred,
        gradient=grad,
        low_resized=low_r,
        roi=roi,
        bounds=(lower, upper),
        segmented=seg,
        edges=edges,
        full_segment=full,
        merged=merged,
        keep=keep,
        seeds=seeds,
    )


def test_pipeline_matches_plain_reimplementation_with_original_libraries(batch):
    imgs, lows, highs, _ = batch
    for i in range(2):
        ref = reference_pipeline(imgs[i], lows[i], highs[i])
        got = pipeline(imgs[i], lows[i], highs[i])
        np.testing.assert_allclose(got["blurred"], ref["blurred"], atol=2e-6)
        np.testing.assert_allclose(got["gradient"], ref["gradient"], atol=2e-5)
        np.testing.assert_allclose(got["low_resized"], ref["low_resized"], atol=2e-6)
        assert np.mean(got["roi"] != ref["roi"]) < 1e-3
        np.testing.assert_allclose(got["bounds"], ref["bounds"], atol=1e-4)
        assert {tuple(p) for p in got["focal_points"]} == set(ref["seeds"])
        for key in ("segmented", "edges", "full_segment"):
            assert np.mean(got[key] != ref[key]) < 2e-3, key
        np.testing.assert_allclose(got["merged"], ref["merged"], atol=2e-3)
        kept = got["result"].any(axis=-1) | (imgs[i].max(axis=-1) == 0)
        assert np.mean(kept != ref["keep"]) < 2e-3


def test_single_image_and_original_batch_of_one_shapes(batch):
    imgs, lows, highs, _ = batch
    one = pipeline(imgs[0], lows[0], highs[0])
    also = pipeline(imgs[:1], lows[0], highs[0])  # the original's (1, H, W, 3) image
    assert set(one) == set(pp.STEP_KEYS)
    assert one["merged"].shape == (224, 224) and one["merged"].dtype == np.float32
    assert one["low"].shape == (14, 14)
    assert one["result"].shape == (224, 224, 3) and one["result"].dtype == np.float32
    assert isinstance(one["bounds"], tuple) and len(one["bounds"]) == 2
    assert one["focal_points"].shape == (15, 2)
    for k in ("edges", "roi", "segmented", "full_segment"):
        assert one[k].dtype == bool
    for k in pp.STEP_KEYS:
        np.testing.assert_array_equal(np.asarray(one[k]), np.asarray(also[k]))


def test_batch_equals_loop_and_uint8_equals_float(batch):
    imgs, lows, highs, _ = batch
    steps = pipeline(imgs, lows, highs, focal_scope="local")
    for i in range(len(imgs)):
        one = pipeline(imgs[i], lows[i], highs[i], focal_scope="local")
        for k in pp.STEP_KEYS:
            a = steps[k][i]
            np.testing.assert_array_equal(np.asarray(a), np.asarray(one[k]), err_msg=k)
    u8 = (imgs * 255).round().astype(np.uint8)
    steps_u8 = pipeline(u8, lows, highs)
    np.testing.assert_allclose(steps_u8["result"], pipeline(u8 / 255.0, lows, highs)["result"], atol=1e-6)


def test_refine_with_workers_equals_loop_in_a_process_that_imported_tensorflow(batch):
    tf = pytest.importorskip("tensorflow")
    assert tf is not None  # the pool must not deadlock although TF (and its threads) are loaded
    imgs, lows, highs, _ = batch
    imgs, lows, highs = (np.concatenate([a, a[::-1]]) for a in (imgs, lows, highs))  # 8 images
    par = refine(
        imgs, lows, highs, workers=2, chunk_size=3, progress=False, keys="all", merge_type="multiply"
    )
    ser = refine(imgs, lows, highs, workers=0, progress=False, keys=None, merge_type="multiply")
    assert set(par) == set(pp.STEP_KEYS)
    for i in range(len(imgs)):
        one = pipeline(imgs[i], lows[i], highs[i], merge_type="multiply")
        for k in pp.STEP_KEYS:
            np.testing.assert_array_equal(np.asarray(par[k][i]), np.asarray(one[k]), err_msg=k)
            np.testing.assert_array_equal(np.asarray(ser[k][i]), np.asarray(one[k]), err_msg=k)
    only = refine(imgs, lows, highs, workers=2, progress=False, merge_type="multiply")  # default: merged
    assert set(only) == {"merged"}
    np.testing.assert_array_equal(only["merged"], par["merged"])
    some = refine(imgs, lows, highs, workers=2, progress=False, keys=("result", "bounds", "focal_points"))
    assert set(some) == {"merged", "result", "bounds", "focal_points"}
    np.testing.assert_array_equal(some["result"], pipeline(imgs, lows, highs)["result"])
    # tensors are accepted as they are
    t = pipeline(tf.constant(imgs[0]), tf.constant(lows[0]), tf.constant(highs[0]), merge_type="multiply")
    np.testing.assert_array_equal(t["merged"], par["merged"][0])
    # resize_bilinear is TF's bilinear resize (half-pixel centres), up and down
    rng = np.random.default_rng(0)
    for (h, w), (H, W) in [((14, 14), (224, 224)), ((5, 7), (33, 20)), ((40, 30), (13, 17))]:
        x = rng.random((2, h, w)).astype(np.float32)
        want = tf.image.resize(x[..., None], (H, W), method="bilinear").numpy()[..., 0]
        np.testing.assert_allclose(resize_bilinear(x, (H, W)), want, atol=2e-6)


def test_refine_serial_path_with_progress_bar(batch, capsys):
    imgs, lows, highs, _ = batch
    out = refine(imgs[:3], lows[:3], highs[:3], workers=1, chunk_size=2, keys="merged")
    assert set(out) == {"merged"}
    np.testing.assert_array_equal(out["merged"], pipeline(imgs[:3], lows[:3], highs[:3])["merged"])
    assert "refine" in capsys.readouterr().err


def test_non_square_grayscale_and_tiny_images():
    rng = np.random.default_rng(0)
    for H, W, h, w, C in [(48, 80, 3, 5, 1), (8, 8, 2, 2, 3), (16, 16, 16, 16, 4)]:
        s = pipeline(rng.random((H, W, C)).astype(np.float32), rng.random((h, w)), rng.random((H, W)))
        assert s["merged"].shape == (H, W) and s["result"].shape == (H, W, C) and s["low"].shape == (h, w)
        assert 0 <= s["merged"].min() and s["merged"].max() <= 1
    assert (
        len(pipeline(rng.random((48, 80, 3)), rng.random((3, 5)), rng.random((48, 80)))["focal_points"]) == 8
    )


# ------------------------------------------------------------------------------------------------
# Step semantics
# ------------------------------------------------------------------------------------------------
def test_blur_is_a_5x5_box_not_gaussian():
    high = np.zeros((32, 32), np.float32)
    high[16, 16] = 1
    steps = pipeline(np.zeros((32, 32, 3), np.float32), np.ones((2, 2), np.float32), high)
    b = steps["blurred"]
    np.testing.assert_allclose(b[14:19, 14:19], 1 / 25, rtol=1e-5)
    assert np.count_nonzero(b > 1e-7) == 25


def test_region_growing_inclusive_bounds_4_connectivity_and_xy_seed_order():
    g = np.array(
        [
            [0.5, 0.5, 0.9, 0.5],
            [0.9, 0.9, 0.5, 0.9],
            [0.2, 0.9, 0.9, 0.9],
        ],
        np.float32,
    )
    seg = region_growing(g, [(0, 0)], 0.2, 0.5)  # (x=0, y=0)
    assert seg.tolist() == [[True, True, False, False], [False] * 4, [False] * 4]  # (1,2) is diagonal only
    seg = region_growing(g, [(0, 2)], 0.2, 0.5)  # x=0, y=2: value 0.2 == lower (inclusive)
    assert seg.sum() == 1 and seg[2, 0]
    assert not region_growing(g, [(2, 0)], 0.2, 0.5).any()  # seed value 0.9 outside the bounds
    assert not region_growing(g, np.zeros((0, 2), int), 0.0, 1.0).any()  # no seeds: nothing, no crash
    with pytest.raises(ValueError, match="seeds"):
        region_growing(g, [(4, 0)], 0.0, 1.0)


def test_row_percentiles_equal_numpy_linear_percentiles():
    rng = np.random.default_rng(2)
    for trial in range(200):
        x = rng.random((3, int(rng.integers(1, 300)))).astype(np.float32)
        if trial % 2:
            x = np.round(x * 4) / 4  # ties
        qs = (float(rng.uniform(0, 100)), 25.0, 75.0, 100.0, 0.0)
        want = np.percentile(x.astype(np.float64), qs, axis=1).T.astype(np.float32)
        np.testing.assert_array_equal(blocks.percentiles(x, qs), want)


def test_fill_small_holes_matches_skimage_and_counts_border_holes():
    rng = np.random.default_rng(1)
    masks = rng.random((3, 40, 40)) > 0.35
    for hole in (2, 5, 17):
        want = np.stack([morphology.remove_small_holes(m, max_size=hole - 1) for m in masks])
        np.testing.assert_array_equal(fill_small_holes(masks, hole), want)
    m = np.ones((10, 10), bool)
    m[0, 0:3] = False  # a 3-pixel hole on the border
    assert fill_small_holes(m, 4).all() and not fill_small_holes(m, 3).all()


def test_sizes_scale_with_the_image():
    assert blocks.default_hole_size((224, 224)) == 256 and blocks.default_num_points((224, 224)) == 15
    assert blocks.default_hole_size((112, 112)) == 64 and blocks.default_num_points((64, 64)) == 8
    img, low, high, _ = make_scene(3, size=112, low_size=7)
    auto = pipeline(img, low, high)
    for k in ("full_segment", "merged"):
        np.testing.assert_array_equal(auto[k], pipeline(img, low, high, hole_size=64)[k])
    assert len(auto["focal_points"]) == 11  # round(sqrt(112))
    hole = np.ones((112, 112), bool)
    hole[50:57, 50:59] = False  # 63 px
    assert fill_small_holes(hole, blocks.default_hole_size((112, 112))).all()
    hole[57, 50] = False  # 64 px
    assert not fill_small_holes(hole, blocks.default_hole_size((112, 112))).all()
    pts = find_focal_points(np.random.default_rng(0).random((4, 4)), (64, 64))
    assert pts.shape == (8, 2)


def test_global_focal_points_are_the_top_pixels_in_xy_order():
    low = np.zeros((4, 4), np.float32)
    low[1, 3] = 1.0  # row 1, column 3
    pts = find_focal_points(low, (4, 4), num_points=1)
    assert pts.tolist() == [[3, 1]]
    low_r = resize_bilinear(np.random.default_rng(0).random((7, 7)), (56, 56))
    pts = find_focal_points(np.random.default_rng(0).random((7, 7)), (56, 56), num_points=10)
    values = low_r[pts[:, 1], pts[:, 0]]
    assert np.all(np.diff(values) <= 0) and values.min() >= np.sort(low_r.ravel())[-10]
    # searching only the ROI (as the pipeline does) gives the same points, ties included
    rng = np.random.default_rng(5)
    for t in range(60):
        low = rng.random((5, 5)).astype(np.float32)
        if t % 2:
            low = np.round(low * 3) / 3  # many ties
        lr = resize_bilinear(low, (40, 40))
        roi = lr > np.float32(np.percentile(lr, rng.uniform(0, 99)))
        k = int(rng.integers(1, 40))
        np.testing.assert_array_equal(blocks.global_points(lr, k, roi), blocks.global_points(lr, k))


# ------------------------------------------------------------------------------------------------
# Regression tests for the original's bugs
# ------------------------------------------------------------------------------------------------
def test_bug_edges_key_holds_thresholded_edges_and_gradient_is_separate(batch):
    imgs, lows, highs, _ = batch
    s = pipeline(imgs[0], lows[0], highs[0])
    assert s["edges"].dtype == bool
    np.testing.assert_array_equal(s["edges"], s["gradient"] >= np.float32(s["bounds"][1]))
    assert s["gradient"].dtype == np.float32 and 0 < s["gradient"].mean() < 1


def test_bug_merge_type_names(batch):
    imgs, lows, highs, _ = batch
    with pytest.raises(ValueError, match=r"merge_type.*'blend', 'multiply'.*'merge'"):
        pipeline(imgs[0], lows[0], highs[0], merge_type="merge")
    s = pipeline(imgs[0], lows[0], highs[0], merge_type="multiply")
    np.testing.assert_allclose(s["merged"], s["full_segment"] * s["low_resized"], atol=1e-7)
    s = pipeline(imgs[0], lows[0], highs[0], merge_type="blend", merge_alpha=0.25)
    np.testing.assert_allclose(s["merged"], 0.25 * s["full_segment"] + 0.75 * s["low_resized"], atol=1e-6)


def test_bug_filter_percentage_is_a_percentage(batch):
    imgs, lows, highs, _ = batch
    img = np.ones((224, 224, 3), np.float32)
    s = pipeline(img, lows[0], highs[0], filter_percentage=15)
    merged = s["merged"]
    k = int(0.85 * merged.size)
    kept = s["result"][..., 0] > 0
    assert kept.sum() == np.count_nonzero(merged > np.sort(merged.ravel())[k])
    assert 0.05 * merged.size < kept.sum() <= 0.15 * merged.size
    with pytest.warns(UserWarning, match="percentage"):
        s2 = pipeline(img, lows[0], highs[0], filter_percentage=0.15)
    assert (s2["result"][..., 0] > 0).sum() <= 0.0015 * merged.size
    for bad in (0, -5, 150):
        with pytest.raises(ValueError, match="filter_percentage"):
            pipeline(img, lows[0], highs[0], filter_percentage=bad)


def test_bug_unknown_filter_type_raises(batch):
    imgs, lows, highs, _ = batch
    with pytest.raises(ValueError, match=r"filter_type.*'percentage', 'threshold'.*'mask'"):
        pipeline(imgs[0], lows[0], highs[0], filter_type="mask")
    s = pipeline(
        np.ones((224, 224, 3), np.float32), lows[0], highs[0], filter_type="threshold", filter_threshold=0.6
    )
    m = s["merged"]
    norm = (m - m.min()) / (m.max() - m.min())
    np.testing.assert_array_equal(s["result"][..., 0] > 0, norm > 0.6)


def test_bug_no_second_normalisation_in_percentage_filter():
    # textured high-res CAM with a flat 30 x 30 patch under the low-res peak: the seeds (gradient 0,
    # below the ROI's 25th percentile) grow nothing, so `merged` peaks below 1 and min-max scaling it
    # again (as the original's filter_image did) would shift the kept fraction
    rng = np.random.default_rng(0)
    high = rng.random((224, 224)).astype(np.float32)
    high[105:135, 105:135] = 0.5
    low = np.zeros((14, 14), np.float32)
    low[7, 7] = 1.0
    low = ndimage.gaussian_filter(low, 2.0)
    s = pipeline(np.ones((224, 224, 3), np.float32), low, high, filter_percentage=30)
    m = s["merged"]
    assert not s["segmented"].any() and m.max() < 0.99
    thr = np.sort(m.ravel())[int(0.7 * m.size)]
    kept = s["result"][..., 0] > 0
    np.testing.assert_array_equal(kept, m > thr)
    buggy = ((m - m.min()) / (m.max() - m.min())) > thr  # the original's comparison
    assert buggy.sum() != kept.sum()  # so this test fails on the original's behaviour


def test_bug_local_maxima_with_negative_values_and_single_maximum():
    low = np.full((7, 7), -1.0, np.float32)
    low[1, 1] = -0.2  # strongest maximum
    low[5, 5] = -0.6  # weaker one; threshold (-0.2 + -0.6) / 2 = -0.4 keeps only (1, 1)
    pts = find_focal_points(low, (70, 70), scope="local", maxima_areas="large")
    assert len(pts) == 100  # one 10 x 10 block, not every non-maximum pixel
    assert pts[:, 0].min() == 10 and pts[:, 0].max() == 19 and pts[:, 1].min() == 10
    small = find_focal_points(low, (70, 70), scope="local", maxima_areas="small")
    assert 1 <= len(small) < 100 and np.all((small >= 10) & (small <= 19))
    one = np.zeros((7, 7), np.float32)
    one[3, 3] = 1.0  # a single maximum: thr == its value, the original kept nothing
    assert len(find_focal_points(one, (70, 70), scope="local")) >= 1


def test_bug_lower_bound_of_exactly_zero_is_kept():
    # a flat plateau (zero gradient) under the low-res peak; noisy texture elsewhere
    rng = np.random.default_rng(0)
    high = rng.random((112, 112)).astype(np.float32)
    high[28:84, 28:84] = 0.5
    low = np.zeros((7, 7), np.float32)
    low[2:5, 2:5] = 1.0
    s = pipeline(np.zeros((112, 112, 3), np.float32), low, high)
    assert s["bounds"][0] == 0.0
    whole_p25 = np.percentile(s["gradient"], 25)
    assert whole_p25 > 0  # the original would have swapped in this bound and grown nothing
    assert s["segmented"][40:72, 40:72].all()


def test_bug_empty_seed_list_does_not_crash():
    low = np.full((7, 7), 0.3, np.float32)  # constant: no local maxima, empty ROI
    high = np.random.default_rng(0).random((56, 56)).astype(np.float32)
    s = pipeline(np.zeros((56, 56, 3), np.float32), low, high, focal_scope="local")
    assert len(s["focal_points"]) == 0 and not s["segmented"].any()
    assert not s["roi"].any()
    assert np.isfinite(s["merged"]).all()


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(roi_percentile=100), ValueError, "roi_percentile"),
        (dict(roi_percentile=-1), ValueError, "roi_percentile"),
        (dict(roi_percentile="85"), TypeError, "roi_percentile"),
        (dict(focal_scope="everywhere"), ValueError, "focal_scope"),
        (dict(maxima_areas="global"), ValueError, "maxima_areas.*focal_scope"),
        (dict(merge_alpha=1.5), ValueError, "merge_alpha"),
        (dict(merge_alpha=True), TypeError, "merge_alpha"),
        (dict(filter_threshold=1.0), ValueError, "filter_threshold"),
        (dict(hole_size=-1), ValueError, "hole_size"),
        (dict(num_focal_points=0), ValueError, "num_focal_points"),
        (dict(num_focal_points=2.5), TypeError, "num_focal_points"),
    ],
)
def test_bad_parameters_raise_clear_errors(batch, kwargs, exc, match):
    imgs, lows, highs, _ = batch
    with pytest.raises(exc, match=match):
        pipeline(imgs[0], lows[0], highs[0], **kwargs)


def test_bad_arrays_raise_clear_errors(batch):
    imgs, lows, highs, _ = batch
    with pytest.raises(ValueError, match=r"`high` must have the image's spatial size \(224, 224\)"):
        pipeline(imgs[0], lows[0], highs[0][:100])
    with pytest.raises(ValueError, match="batch sizes differ"):
        pipeline(imgs[:2], lows[:3], highs[:2])
    with pytest.raises(ValueError, match=r"`img` float pixels must be in \[0, 1\]"):
        pipeline(imgs[0] * 255, lows[0], highs[0])
    bad = highs[0].copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="`high` contains NaN"):
        pipeline(imgs[0], lows[0], bad)
    with pytest.raises(TypeError, match="`low` must hold real numbers"):
        pipeline(imgs[0], lows[0].astype(str), highs[0])
    with pytest.raises(ValueError, match=r"`low` must be \(h, w\) for one image or \(B, h, w\)"):
        pipeline(imgs[0], lows[0][None, None], highs[0])
    with pytest.raises(TypeError, match="unknown pipeline parameter"):
        refine(imgs, lows, highs, workers=0, progress=False, roi_pct=80)
    with pytest.raises(ValueError, match="`keys` has unknown step names"):
        refine(imgs, lows, highs, workers=0, progress=False, keys=("merged", "nope"))
    with pytest.raises(ValueError, match="`workers`"):
        refine(imgs, lows, highs, workers=-1, progress=False)


# ------------------------------------------------------------------------------------------------
# How the caller was started does not matter; no TensorFlow on the NumPy side
# ------------------------------------------------------------------------------------------------
_REFINE_SCRIPT = """
import os
import sys

with open(os.environ["HRCAM_TEST_LOG"], "a") as f:  # once per process that runs this file
    f.write("imported\\n")


def main():
    import numpy as np

    from hrcam.postprocessing import pipeline, refine

    rng = np.random.default_rng(0)
    imgs = rng.random((4, 32, 32, 3)).astype(np.float32)
    lows = rng.random((4, 4, 4)).astype(np.float32)
    highs = rng.random((4, 32, 32)).astype(np.float32)
    out = refine(imgs, lows, highs, workers=2, chunk_size=1, progress=False, start_method=sys.argv[-1])
    assert np.array_equal(out["merged"], pipeline(imgs, lows, highs)["merged"])
    print("refined", out["merged"].shape)


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(
    "how, start_method",
    [
        ("stdin", "forkserver"),
        ("stdin", "spawn"),
        ("-c", "forkserver"),
        ("file", "forkserver"),
        ("file", "spawn"),
    ],
)
def test_refine_workers_from_stdin_dash_c_and_a_file(how, start_method, tmp_path):
    """`python -` used to die with BrokenProcessPool (the workers re-ran `<stdin>` as __main__), and the
    workers of a script file re-imported the whole script: now they never import the caller's __main__."""
    import os
    import subprocess
    import sys

    log = tmp_path / "imports.log"
    script = tmp_path / "script.py"
    script.write_text(_REFINE_SCRIPT)
    cmd, stdin = {
        "stdin": ([sys.executable, "-", start_method], _REFINE_SCRIPT),
        "-c": ([sys.executable, "-c", _REFINE_SCRIPT, start_method], None),
        "file": ([sys.executable, str(script), start_method], None),
    }[how]
    env = {**os.environ, "HRCAM_TEST_LOG": str(log)}
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "refined (4, 32, 32)" in res.stdout
    assert log.read_text().splitlines() == ["imported"]  # the caller only, no worker


def test_numpy_side_imports_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, hrcam.postprocessing, hrcam.highres.refine, hrcam.evaluation\n"
        "import hrcam.evaluation.localisation\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
