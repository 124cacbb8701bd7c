"""TensorFlow layer on top of :mod:`hrcam.arrays`: image conversion, map normalisation and resizing, image
resizing to a model's input size, class selection in the graph, CAMs. Each is written once here; the NumPy
twins of :func:`normalize_maps` and :func:`resize_maps` are :func:`hrcam.arrays.minmax` and
:func:`hrcam.arrays.resize_maps`.

The checks and their messages are :mod:`hrcam.arrays`' (NumPy-only, also used by worker processes and the
NumPy evaluation code); this module adds what needs TensorFlow. Conventions (``DESIGN.md``):

* images are NHWC (NDHWC for volumes), ``float32`` in [0, 1], ``uint8`` in [0, 255] or ``bool`` (0/1);
* maps are ``float32`` (B, H, W) or (B, D, H, W), min-max scaled per map, constant maps -> zeros;
* targets are validated once, at the API boundary, by :func:`hrcam.arrays.resolve_targets` ((B, k) int32,
  -1 = predicted), and resolved against the model's scores in the graph by :func:`select_classes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from hrcam.arrays import check_images

__all__ = [
    "as_images",
    "check_images",
    "normalize_maps",
    "resize_maps",
    "resize_images",
    "select_classes",
    "class_activation_maps",
    "to_numpy",
]


def as_images(x: Any, **check_kwargs: Any) -> tf.Tensor:
    """Validate with :func:`hrcam.arrays.check_images` and return a float32 tensor in [0, 1].

    ``uint8`` (and other integer) pixels are divided by 255; ``bool`` pixels are 0/1 values
    (True -> 1.0); float pixels are cast to float32.
    """
    x = check_images(x, **check_kwargs)
    x = tf.convert_to_tensor(x)
    if x.dtype.is_integer:
        return tf.cast(x, tf.float32) / 255.0
    return tf.cast(x, tf.float32)


def normalize_maps(maps: tf.Tensor, batch_dims: int = 1) -> tf.Tensor:
    """Min-max scale each map to [0, 1]; constant maps become zeros (never NaN).

    Args:
        maps: float tensor whose first ``batch_dims`` axes index maps, e.g. (B, H, W) with
            ``batch_dims=1`` or (B, k, H, W) with ``batch_dims=2``.
    """
    maps = tf.convert_to_tensor(maps, tf.float32)
    axes = list(range(batch_dims, maps.shape.rank))
    lo = tf.reduce_min(maps, axis=axes, keepdims=True)
    hi = tf.reduce_max(maps, axis=axes, keepdims=True)
    # one fused op, exactly 1.0 at each map's maximum; a constant map gives 0 / 0 -> zeros
    return tf.math.divide_no_nan(maps - lo, hi - lo)


def resize_maps(maps: tf.Tensor, size: Sequence[int] | tf.Tensor, method: str = "bilinear") -> tf.Tensor:
    """Resize maps (N, h, w) -> (N, H, W), or volumes (N, d, h, w) -> (N, D, H, W).

    Half-pixel-centre interpolation (``tf.image.resize``), which matches PIL's bilinear upsampling used
    by the original HR-CAM code, no antialiasing (:func:`hrcam.arrays.resize_maps` is the NumPy twin). Extra
    leading axes are allowed: (B, k, h, w) -> (B, k, H, W). ``size`` is (H, W) / (D, H, W) ints, or a (2,)
    int tensor (H, W) known only when the graph runs (e.g. ``tf.shape(images)[1:3]``); maps already at that
    size come back unchanged (at the same size bilinear resizing is the identity).
    """
    maps = tf.convert_to_tensor(maps, tf.float32)
    if isinstance(size, (tf.Tensor, tf.Variable)):
        size = tf.cast(size, tf.int32)
        if size.shape != (2,):
            raise ValueError(f"a tensor `size` must be (2,) (H, W), got shape {size.shape}")
        known = tf.get_static_value(size)  # e.g. tf.shape of a tensor whose shape is known while tracing
        if known is None:
            same = tf.reduce_all(tf.equal(tf.shape(maps)[-2:], size))
            return tf.cond(same, lambda: tf.identity(maps), lambda: _resize_flat(maps, size, 2, method))
        size = known
    size = [int(s) for s in size]
    n_spatial = len(size)
    if n_spatial not in (2, 3):
        raise ValueError(f"`size` must have 2 (H, W) or 3 (D, H, W) entries, got {size}")
    if maps.shape[-n_spatial:] == tuple(size):
        return maps
    return _resize_flat(maps, size, n_spatial, method)


def _resize_flat(maps: tf.Tensor, size: Any, n_spatial: int, method: str) -> tf.Tensor:
    shape = tf.shape(maps)
    lead = shape[: maps.shape.rank - n_spatial]
    flat = tf.reshape(maps, tf.concat([[-1], shape[maps.shape.rank - n_spatial :]], 0))
    if n_spatial == 2:
        out = tf.image.resize(flat[..., None], size, method=method)[..., 0]
    else:
        # Separable: (N, d, h, w) -> resize (h, w) per slice -> resize depth along (d, H*W).
        n, d = tf.shape(flat)[0], tf.shape(flat)[1]
        hw = tf.image.resize(tf.reshape(flat, [-1, shape[-2], shape[-1], 1]), size[1:], method=method)
        hw = tf.reshape(hw, [n, d, size[1] * size[2], 1])
        out = tf.image.resize(hw, [size[0], size[1] * size[2]], method=method)
        out = tf.reshape(out, [n, size[0], size[1], size[2]])
    return tf.reshape(out, tf.concat([lead, size], 0))


def resize_images(images: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """Resize images to a model's input size: (B, H, W, C) or (H, W, C) -> (..., h, w, C) float32.

    Bilinear with antialiasing (a shrink averages, as PIL's), half-pixel centres; images already at
    ``size`` come back unchanged (float32). The size check is static when H and W are known while tracing,
    else a ``tf.cond`` in the graph; the result always has the static shape (..., h, w, C).
    """
    images = tf.convert_to_tensor(images)
    if images.dtype != tf.float32:
        images = tf.cast(images, tf.float32)
    h, w = (int(s) for s in size)
    have = images.shape[-3:-1]
    if have == (h, w):
        return images
    resize = lambda: tf.image.resize(images, (h, w), method="bilinear", antialias=True)  # noqa: E731
    if have[0] is not None and have[1] is not None:
        return resize()
    same = tf.reduce_all(tf.equal(tf.shape(images)[-3:-1], [h, w]))
    out = tf.cond(same, lambda: tf.identity(images), resize)
    return tf.ensure_shape(out, images.shape[:-3].concatenate([h, w]).concatenate(images.shape[-1:]))


def select_classes(probabilities: tf.Tensor, classes: tf.Tensor | None) -> tf.Tensor:
    """Resolve "the predicted class" in the graph: -> (B, k) int32 class indices.

    Args:
        probabilities: (B, C) model scores (probabilities or logits: only their argmax is used).
        classes: (B, k) int32 from :func:`hrcam.arrays.resolve_targets`, or None. Negative entries mean
            "this image's predicted class".

    Returns:
        (B, k) int32: ``classes`` with each negative entry replaced by the image's argmax; for None, the
        argmax as (B, 1).
    """
    predicted = tf.cast(tf.argmax(probabilities, axis=-1, output_type=tf.int64), tf.int32)[:, None]
    if classes is None:
        return predicted
    classes = tf.cast(classes, tf.int32)
    if classes.shape.rank == 1:
        classes = classes[:, None]
    return tf.where(classes < 0, tf.broadcast_to(predicted, tf.shape(classes)), classes)


def class_activation_maps(features: tf.Tensor, kernel: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Class activation maps: the dense kernel's class columns applied to the feature channels.

    Args:
        features: (B, *spatial, K) activations before global average pooling.
        kernel: (K, C) weights of the Dense layer after the pooling.
        classes: (B, k) int class indices.

    Returns:
        (B, k, *spatial) float32 raw CAMs (no ReLU, no normalisation, bias ignored, as in Zhou et al.).
    """
    features = tf.cast(features, tf.float32)
    kernel = tf.cast(kernel, tf.float32)
    class_weights = tf.gather(tf.transpose(kernel), classes)  # (B, k, K)
    return tf.einsum("b...c,bkc->bk...", features, class_weights)


def to_numpy(x: Any) -> Any:
    """Tensors (also nested in tuples/dicts) -> NumPy; anything else unchanged."""
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(v) for v in x)
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x.numpy()
    return x
