"""Shared ops: input checks, normalisation, resizing, target resolution, CAM einsum."""

import numpy as np
import pytest
import tensorflow as tf

from hrcam import arrays, ops


def test_normalize_maps_per_map_and_constant_maps_become_zeros():
    maps = np.stack([np.arange(16, dtype=np.float32).reshape(4, 4), np.full((4, 4), 3.0, np.float32)])
    out = ops.normalize_maps(maps).numpy()
    np.testing.assert_allclose(out[0], np.arange(16).reshape(4, 4) / 15, rtol=1e-6)
    assert np.all(out[1] == 0) and not np.isnan(out).any()
    two = ops.normalize_maps(maps[None], batch_dims=2).numpy()
    np.testing.assert_allclose(two[0], out, rtol=1e-6)


def test_resize_maps_2d_matches_tf_image_and_3d_is_separable():
    rng = np.random.default_rng(0)
    m = rng.random((2, 3, 5, 4)).astype(np.float32)
    out = ops.resize_maps(m, (10, 8)).numpy()
    ref = tf.image.resize(m.reshape(6, 5, 4, 1), (10, 8)).numpy().reshape(2, 3, 10, 8)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    vol = rng.random((2, 4, 5, 6)).astype(np.float32)
    up = ops.resize_maps(vol, (8, 10, 12)).numpy()
    assert up.shape == (2, 8, 10, 12)
    # a volume constant along depth stays constant along depth, and equals the 2D resize of its slice
    flat = np.repeat(vol[:, :1], 4, axis=1)
    up = ops.resize_maps(flat, (8, 10, 12)).numpy()
    np.testing.assert_allclose(up[:, 3], ops.resize_maps(vol[:, 0], (10, 12)).numpy(), rtol=1e-5, atol=1e-6)


def test_resize_maps_takes_a_size_tensor_and_skips_maps_at_that_size():
    m = np.random.default_rng(1).random((2, 5, 4)).astype(np.float32)
    ref = ops.resize_maps(m, (10, 8)).numpy()
    np.testing.assert_array_equal(ops.resize_maps(m, tf.constant([10, 8])).numpy(), ref)
    t = tf.constant(m)
    assert ops.resize_maps(t, (5, 4)) is t  # at the same size bilinear is the identity: no op

    spec = [tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([2], tf.int32)]

    @tf.function(input_signature=spec)
    def dynamic(maps, size):  # sizes known only when the graph runs: a tf.cond
        return ops.resize_maps(maps, size)

    np.testing.assert_allclose(dynamic(m, tf.constant([10, 8])).numpy(), ref, rtol=1e-6)
    np.testing.assert_array_equal(dynamic(m, tf.constant([5, 4])).numpy(), m)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        ops.resize_maps(m, tf.constant([2, 10, 8]))


def test_resize_images_known_answers():
    ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))[None, :, :, None].repeat(3, -1)  # value = column
    out = ops.resize_images(ramp, (4, 4)).numpy()
    # antialiased bilinear: output column j is a triangle-weighted mean of columns 2j - 1 .. 2j + 2 (centre at
    # column 2j + 0.5, half-pixel centres); away from the borders a ramp stays a ramp: 2.5 and 4.5
    np.testing.assert_allclose(out[0, :, 1:3, 0], [[2.5, 4.5]] * 4, atol=1e-5)
    np.testing.assert_allclose(out, tf.image.resize(ramp, (4, 4), antialias=True).numpy(), atol=1e-6)
    np.testing.assert_allclose(ops.resize_images(np.full((1, 6, 9, 3), 0.25, np.float32), (3, 3)), 0.25, 1e-6)
    same = ops.resize_images(ramp, (8, 8))
    assert same.dtype == tf.float32 and np.array_equal(same.numpy(), ramp)
    pixels = ops.resize_images(np.full((5, 7, 3), 200, np.uint8), (5, 7))  # one image; uint8 -> float32
    assert pixels.dtype == tf.float32 and float(pixels[0, 0, 0]) == 200.0

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def to_model(x):
        return ops.resize_images(x, (4, 4))

    assert to_model.get_concrete_function().structured_outputs.shape.as_list() == [None, 4, 4, 3]
    np.testing.assert_allclose(to_model(ramp).numpy(), out, atol=1e-6)
    np.testing.assert_array_equal(to_model(ramp[:, :4, :4]).numpy(), ramp[:, :4, :4])


def _resolve(targets, scores):
    """The two-step target resolution: arrays.resolve_targets (boundary) + ops.select_classes (graph)."""
    classes, multi = arrays.resolve_targets(targets, scores.shape[0], scores.shape[-1])
    return ops.select_classes(scores, classes), multi


def test_resolve_targets_forms():
    scores = tf.constant([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    cls, multi = _resolve(None, scores)
    assert cls.numpy().tolist() == [[1], [0]] and not multi
    assert _resolve(2, scores)[0].numpy().tolist() == [[2], [2]]
    assert _resolve([0, 2], scores)[0].numpy().tolist() == [[0], [2]]
    cls, multi = _resolve([[0, 1], [2, 0]], scores)
    assert multi and cls.shape == (2, 2)
    with pytest.raises(ValueError, match=r"out of range \[0, 2\]"):
        _resolve([0, 3], scores)
    with pytest.raises(ValueError, match="3 entries"):
        _resolve([0, 1, 2], scores)
    with pytest.raises(TypeError, match="bool"):
        _resolve(True, scores)


def test_select_classes_negative_means_predicted_and_traces():
    scores = tf.constant([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert ops.select_classes(scores, None).numpy().tolist() == [[1], [0]]
    both = ops.select_classes(scores, tf.constant([[-1, 2], [1, -1]]))
    assert both.numpy().tolist() == [[1, 2], [1, 0]]
    assert not hasattr(ops, "resolve_targets")  # one place for targets: hrcam.arrays
    fn = tf.function(
        ops.select_classes, input_signature=[tf.TensorSpec([None, 3]), tf.TensorSpec([None, None], tf.int32)]
    )
    assert fn(scores, tf.constant([[-1], [2]])).numpy().tolist() == [[1], [2]]


def test_bool_images_are_zero_one_values():
    # the old check rejected bool images (a dead `np_dtype is not bool` branch) and as_images gave 1/255
    x = np.zeros((1, 2, 2, 1), bool)
    x[0, 0, 0, 0] = True
    assert ops.check_images(x) is x
    out = ops.as_images(x).numpy()
    assert out.dtype == np.float32 and out[0, 0, 0, 0] == 1.0 and out.sum() == 1.0
    assert ops.as_images(tf.constant(x)).numpy().max() == 1.0


def test_class_activation_maps_equals_numpy():
    rng = np.random.default_rng(1)
    feats, kernel = rng.random((2, 3, 4, 5)).astype(np.float32), rng.random((5, 7)).astype(np.float32)
    classes = np.array([[6, 0], [2, 2]])
    out = ops.class_activation_maps(feats, kernel, classes).numpy()
    for b in range(2):
        for j in range(2):
            np.testing.assert_allclose(out[b, j], feats[b] @ kernel[:, classes[b, j]], rtol=1e-5)


def test_as_images_converts_uint8_and_checks():
    u8 = np.full((1, 2, 2, 3), 255, np.uint8)
    assert ops.as_images(u8).numpy().max() == 1.0
    with pytest.raises(ValueError, match="rank 5"):
        ops.as_images(np.zeros((1, 2, 2, 3), np.float32), rank=5)
    with pytest.raises(TypeError, match="NumPy array or a tensor"):
        ops.as_images("image.png")
