"""In-graph checks and decoding of serving requests (float32, uint8 or encoded JPEG/PNG images, class index).

Every request is checked *inside the graph* (``tf.debugging.Assert``), so a bad request fails with an
``InvalidArgument`` error naming the input, what came and what was expected, in TF Serving as in
``tf.saved_model.load``: wrong rank, channel count, empty batch, float pixels outside [0, 1] or not finite,
class index out of range or of the wrong length, undecodable bytes, images of different sizes in one
``image_bytes`` batch.
"""

from __future__ import annotations

import tensorflow as tf

from hrcam import ops
from hrcam.arrays import FLOAT_RANGE_TOLERANCE

__all__ = [
    "images_from_float",
    "images_from_uint8",
    "images_from_bytes",
    "check_class_index",
    "resize_maps_to",
]

# Same tolerance as hrcam.arrays.check_images, so the server accepts exactly what the Python API accepts.
_FLOAT_TOLERANCE = FLOAT_RANGE_TOLERANCE
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_SUMMARIZE = 8  # how many values of a tensor an error message shows


def _after(check: tf.Operation, value: tf.Tensor) -> tf.Tensor:
    """``value``, computed only once ``check`` has passed."""
    with tf.control_dependencies([check]):
        return tf.identity(value)


def _check_image_tensor(images: tf.Tensor, channels: int, name: str = "images") -> tf.Tensor:
    """Rank-4, non-empty, ``channels`` channels -> the same tensor with static shape (None, None, None, C).

    Only ``Assert`` ops and a reshape are used: ``tf.ensure_shape`` is evaluated before control dependencies
    when the request's shape is known, which would replace these messages by a generic one.
    """
    shape = tf.shape(images, out_type=tf.int32)
    rank_ok = tf.debugging.Assert(
        tf.equal(tf.size(shape), 4),
        [f"`{name}` must have rank 4 (batch, height, width, channels), got shape", shape],
        summarize=_SUMMARIZE,
        name=f"check_{name}_rank",
    )
    shape = _after(rank_ok, tf.concat([shape, [1, 1, 1, 1]], 0))
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    ok = tf.debugging.Assert(
        tf.equal(c, channels),
        [f"`{name}` must have {channels} channel(s) in the last axis, got shape", tf.shape(images)],
        summarize=_SUMMARIZE,
        name=f"check_{name}_channels",
    )
    b = _after(ok, b)
    ok = tf.debugging.Assert(
        tf.logical_and(b > 0, tf.logical_and(h > 0, w > 0)),
        [f"`{name}` must hold at least one image of at least 1x1 pixels, got shape", tf.shape(images)],
        summarize=_SUMMARIZE,
        name=f"check_{name}_size",
    )
    b = _after(ok, b)
    return tf.reshape(images, tf.stack([b, h, w, channels]))


def images_from_float(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Check a float32 request: (B, H, W, C), finite, in [0, 1] -> float32 (B, H, W, C)."""
    images = _check_image_tensor(images, channels)
    lo, hi = tf.reduce_min(images), tf.reduce_max(images)
    in_range = tf.reduce_all((images >= -_FLOAT_TOLERANCE) & (images <= 1.0 + _FLOAT_TOLERANCE))
    ok = tf.debugging.Assert(
        in_range,
        [
            "`images` float32 pixels must be finite and in [0, 1] (send 0-255 pixels as uint8 to the *_uint8 "
            "signatures), got values in",
            lo,
            hi,
        ],
        name="check_images_range",
    )
    return _after(ok, images)


def images_from_uint8(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Check a uint8 request (B, H, W, C) -> float32 in [0, 1] (``x / 255``, as ``hrcam.ops.as_images``)."""
    images = _check_image_tensor(images, channels)
    return tf.cast(images, tf.float32) / 255.0


def images_from_bytes(image_bytes: tf.Tensor, channels: int) -> tf.Tensor:
    """Decode a (B,) string batch of JPEG/PNG files -> float32 (B, H, W, C) in [0, 1].

    Grayscale and RGBA files are converted to ``channels`` (``tf.io.decode_image``); every image of one
    request must have the same size (send images of different sizes in separate requests).
    """
    shape = tf.shape(image_bytes, out_type=tf.int32)
    ok = tf.debugging.Assert(
        tf.logical_and(tf.equal(tf.size(shape), 1), tf.reduce_prod(shape) > 0),
        ["`image_bytes` must be a non-empty (batch,) vector of encoded JPEG/PNG files, got shape", shape],
        summarize=_SUMMARIZE,
        name="check_image_bytes_rank",
    )
    flat = tf.reshape(_after(ok, image_bytes), [-1])
    n = tf.size(flat)

    def decode(i: tf.Tensor) -> tf.Tensor:
        data = flat[i]
        head = tf.strings.substr(data, 0, 8)
        known = tf.logical_or(
            tf.equal(tf.strings.substr(head, 0, len(_JPEG_MAGIC)), _JPEG_MAGIC), tf.equal(head, _PNG_MAGIC)
        )
        ok = tf.debugging.Assert(
            known,
            ["`image_bytes` entry", i, "is not a JPEG or PNG file; its first bytes are", head],
            name="check_image_bytes_format",
        )
        img = tf.io.decode_image(_after(ok, data), channels=channels, expand_animations=False, dtype=tf.uint8)
        return tf.reshape(img, tf.concat([tf.shape(img)[:2], [channels]], 0))

    first = decode(tf.constant(0))
    size = tf.shape(first)[:2]

    def body(i: tf.Tensor, arr: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
        img = decode(i)
        ok = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(img)[:2], size)),
            [
                "all images of one `image_bytes` request must have the same size; entry 0 is (height, width)",
                size,
                "but entry",
                i,
                "is",
                tf.shape(img)[:2],
            ],
            name="check_image_bytes_sizes",
        )
        return i + 1, arr.write(i, _after(ok, img))

    arr = tf.TensorArray(tf.uint8, size=n, element_shape=tf.TensorShape([None, None, channels]))
    arr = arr.write(0, first)
    _, arr = tf.while_loop(lambda i, _: i < n, body, (tf.constant(1), arr))
    images = arr.stack()
    images.set_shape([None, None, None, channels])
    return tf.cast(images, tf.float32) / 255.0


def check_class_index(class_index: tf.Tensor, batch: tf.Tensor, num_classes: int) -> tf.Tensor:
    """Check ``class_index``: int32 (B,) with values in [-1, num_classes - 1] -> (B, 1) int32."""
    shape = tf.shape(class_index, out_type=tf.int32)
    ok = tf.debugging.Assert(
        tf.logical_and(tf.equal(tf.size(shape), 1), tf.equal(tf.reduce_prod(shape), batch)),
        [
            "`class_index` must have shape (batch,) = ",
            [batch],
            "(one class per image, -1 = predicted), got shape",
            shape,
        ],
        summarize=_SUMMARIZE,
        name="check_class_index_shape",
    )
    flat = tf.reshape(_after(ok, class_index), [-1])
    bad = tf.boolean_mask(flat, (flat < -1) | (flat >= num_classes))
    ok = tf.debugging.Assert(
        tf.equal(tf.size(bad), 0),
        [f"`class_index` values must be in [0, {num_classes - 1}] or -1 (the predicted class), got", bad],
        summarize=_SUMMARIZE,
        name="check_class_index_range",
    )
    return _after(ok, flat)[:, None]


def resize_maps_to(maps: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """(B, h, w) -> (B, H, W): :func:`hrcam.ops.resize_maps` with a (2,) int32 ``size`` tensor (bilinear,
    half-pixel centres; skipped when the size already matches)."""
    return ops.resize_maps(maps, size)
