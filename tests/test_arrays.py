"""hrcam.arrays: the NumPy-only conventions (images, targets, min-max, resizing, boxes)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hrcam import arrays


def test_check_images_accepts_bool_uint8_float_and_rejects_the_rest():
    for x in (np.zeros((1, 2, 2, 3), bool), np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2, 3), "f4")):
        assert arrays.check_images(x) is x
    with pytest.raises(TypeError, match="uint8 or float pixels"):
        arrays.check_images(np.zeros((1, 2, 2, 3), complex))
    with pytest.raises(ValueError, match=r"a single image\? add a batch axis"):
        arrays.check_images(np.zeros((2, 2, 3), "f4"))
    with pytest.raises(ValueError, match=r"float pixels must be in \[0, 1\]"):
        arrays.check_images(np.full((1, 2, 2, 3), 2.0))
    with pytest.raises(ValueError, match="3 channel"):
        arrays.check_images(np.zeros((1, 2, 2, 1), "f4"), channels=3)
    with pytest.raises(ValueError, match="empty batch"):
        arrays.check_images(np.zeros((0, 2, 2, 1), "f4"))


def test_check_pixels_bool_becomes_zero_one_float():
    out = arrays.check_pixels(np.eye(2, dtype=bool)[None, ..., None], "img", 4)
    assert out.dtype == np.float32 and out.max() == 1.0


@pytest.mark.parametrize(
    "targets, expected, multi",
    [
        (None, [[-1], [-1], [-1]], False),
        (2, [[2], [2], [2]], False),
        (-1, [[-1], [-1], [-1]], False),
        ([0, -1, 3], [[0], [-1], [3]], False),
        ([4], [[4], [4], [4]], False),
        (np.array([[0, 1], [-1, 2], [3, -5]]), [[0, 1], [-1, 2], [3, -1]], True),
        (np.array([1.0, 2.0, 0.0]), [[1], [2], [0]], False),
    ],
)
def test_resolve_targets_forms(targets, expected, multi):
    classes, got_multi = arrays.resolve_targets(targets, 3, 5)
    assert classes.dtype == np.int32 and classes.tolist() == expected and got_multi is multi


def test_resolve_targets_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"`custom_class` has class indices \[5\] out of range \[0, 4\]"):
        arrays.resolve_targets([0, 5], 2, 5, name="custom_class")
    with pytest.raises(ValueError, match="3 entries but the batch has 2"):
        arrays.resolve_targets([0, 1, 2], 2, 5)
    with pytest.raises(ValueError, match="k must be at least 1"):
        arrays.resolve_targets(np.zeros((2, 0), int), 2, 5)
    with pytest.raises(ValueError, match=r"shape \(3, 1\) but the batch has 2"):
        arrays.resolve_targets(np.zeros((3, 1), int), 2, 5)
    with pytest.raises(TypeError, match="bool"):
        arrays.resolve_targets(True, 2, 5)
    with pytest.raises(TypeError, match="integer class indices"):
        arrays.resolve_targets([0.5, 1], 2, 5)
    with pytest.raises(ValueError, match="got shape"):
        arrays.resolve_targets(np.zeros((2, 1, 1), int), 2, 5)
    # no upper bound when the number of classes is unknown
    assert arrays.resolve_targets(1000, 1, None)[0].tolist() == [[1000]]


def test_minmax_per_map_and_constant_maps_become_zeros():
    maps = np.stack([np.arange(16, dtype=np.float64).reshape(4, 4), np.full((4, 4), 3.0)])
    out = arrays.minmax(maps)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], np.arange(16).reshape(4, 4) / 15, rtol=1e-6)
    assert np.all(out[1] == 0) and not np.isnan(out).any()
    np.testing.assert_allclose(arrays.minmax(maps[None], batch_dims=2)[0], out)


@pytest.mark.parametrize(
    "shape, size",
    [((2, 3, 5, 4), (10, 8)), ((4, 17, 9), (7, 30)), ((14, 14), (224, 224)), ((3, 30, 31), (13, 7))],
)
def test_resize_maps_equals_tf_image_resize_bilinear(shape, size):
    tf = pytest.importorskip("tensorflow")
    m = np.random.default_rng(0).random(shape).astype(np.float32)
    ref = tf.image.resize(m.reshape(-1, *shape[-2:], 1), size, "bilinear").numpy().reshape(*shape[:-2], *size)
    np.testing.assert_allclose(arrays.resize_maps(m, size), ref, atol=1e-5)


def test_resize_maps_volumes_match_ops():
    ops = pytest.importorskip("hrcam.ops")
    v = np.random.default_rng(1).random((2, 4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(arrays.resize_maps(v, (8, 10, 12)), ops.resize_maps(v, (8, 10, 12)), atol=1e-5)
    with pytest.raises(ValueError, match="`size`"):
        arrays.resize_maps(v, (8,))


def test_boxes_to_masks_hand_made_boxes():
    masks = arrays.boxes_to_masks(
        [np.array([[1, 2, 4, 3]]), np.array([[0, 0, 2, 2], [1.4, 1.4, 3.6, 2.6]]), np.zeros((0, 4))], (4, 5)
    )
    expected = np.zeros((3, 4, 5), bool)
    expected[0, 2:3, 1:4] = True  # the integer box (x0, y0, x1, y1) is the slice [y0:y1, x0:x1]
    expected[1, 0:2, 0:2] = True
    expected[1, 1:3, 1:4] = True  # centres 1.5..3.5 inside [1.4, 3.6); rows 1.5, 2.5 inside [1.4, 2.6)
    np.testing.assert_array_equal(masks, expected)
    np.testing.assert_array_equal(
        arrays.boxes_to_masks(np.array([[-5.0, -5, 9, 9]]), 3), np.ones((1, 3, 3), bool)
    )
    # masks_to_boxes inverts it on tight boxes; empty masks give NaN
    np.testing.assert_array_equal(arrays.masks_to_boxes(masks[:1]), [[1, 2, 4, 3]])
    assert np.isnan(arrays.masks_to_boxes(masks[2:])).all()


def test_box_conversions():
    inclusive = np.array([[0, 0, 63, 63], [10, 20, 29, 39]], np.float32)
    edges = arrays.inclusive_to_boxes(inclusive)
    np.testing.assert_array_equal(edges, [[0, 0, 64, 64], [10, 20, 30, 40]])
    np.testing.assert_array_equal(arrays.boxes_to_inclusive(edges), inclusive)
    np.testing.assert_allclose(arrays.scale_boxes(edges, 64, 224), [[0, 0, 224, 224], [35, 70, 105, 140]])
    np.testing.assert_array_equal(arrays.clip_boxes([[-3, 2, 70, 40]], (32, 64)), [[0, 2, 64, 32]])
    with pytest.raises(ValueError, match="max >= min"):
        arrays.check_boxes([[3, 0, 1, 1]])


def test_arrays_never_imports_tensorflow():
    code = "import sys, hrcam.arrays; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
