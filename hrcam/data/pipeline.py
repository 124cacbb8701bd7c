"""The one tf.data tail every hrcam dataset goes through: decode -> cache -> shuffle -> batch -> to float
-> augment -> labels -> prefetch.

Folder datasets (:func:`hrcam.data.folder.make_dataset`), in-memory arrays (:func:`from_arrays`) and the
synthetic scenes (:meth:`hrcam.data.synthetic.SyntheticScenes.dataset`) differ only in their source and
their per-example ``decode`` function, so batching, augmentation and prefetching are written once, here.

Conventions:

* Elements before batching are ``(image uint8 (H, W, C), label)``; images stay uint8 through the cache and
  the shuffle buffer (4x less memory than float32) and become float32 in [0, 1] per batch.
* Yielded batches: ``images`` float32 ``(B, H, W, C)`` (or ``(B, D, H, W, C)``) in [0, 1]; ``labels`` int32
  ``(B,)``, or float32 ``(B, C)`` when ``one_hot=C`` is given or the labels are already multi-hot ``(N, C)``.
* ``augment`` (a Keras layer or any callable on a float batch) runs batched inside the graph, after the
  cache, so every epoch sees new random transforms; its output is clipped to [0, 1].
* Determinism: with ``deterministic=True`` (default) the order is fixed by ``seed`` and the augmentation
  runs one batch at a time, so a seeded augmentation layer gives the same batches run after run. With
  ``deterministic=False`` the augmentation also runs in parallel (faster on many cores, not reproducible).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.arrays import check_images
from hrcam.ops import as_images

__all__ = ["finish_dataset", "from_arrays", "InMemoryData", "SHUFFLE_BUFFER_LIMIT"]

#: Largest shuffle buffer of *decoded* images (cached datasets); file-name shuffles are always complete.
SHUFFLE_BUFFER_LIMIT = 20_000


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _apply_augment(augment: Callable[..., Any], images: tf.Tensor) -> tf.Tensor:
    out = augment(images, training=True) if isinstance(augment, keras.layers.Layer) else augment(images)
    out = tf.convert_to_tensor(out)
    return tf.clip_by_value(tf.cast(out, tf.float32), 0.0, 1.0)


def finish_dataset(
    ds: tf.data.Dataset,
    *,
    num_examples: int,
    batch_size: int,
    decode: Callable[[tf.Tensor], tf.Tensor] | None = None,
    shuffle: bool = False,
    augment: Callable[..., Any] | None = None,
    cache: bool | str = False,
    seed: int | None = 0,
    drop_remainder: bool = False,
    one_hot: int | None = None,
    deterministic: bool = True,
) -> tf.data.Dataset:
    """Turn a dataset of ``(source, label)`` elements into batches ``(images float32 [0,1], labels)``.

    Args:
        ds: unbatched elements ``(source, label)``; ``source`` is whatever ``decode`` reads (a file name),
            or the image itself (uint8 or float in [0, 1]) when ``decode`` is None.
        num_examples: number of elements (sizes the shuffle buffer).
        batch_size: images per batch.
        decode: ``source -> image uint8 (H, W, C)``, run with parallel calls before the cache.
        shuffle: reshuffle every epoch (seeded by ``seed``). Without a cache the *sources* are shuffled
            before decoding (complete shuffle, no image buffer); with a cache, decoded images are shuffled
            with a buffer of up to :data:`SHUFFLE_BUFFER_LIMIT`.
        augment: a callable/Keras layer on a float32 batch in [0, 1], applied in the graph.
        cache: ``True`` caches decoded images in memory, a string caches to that file prefix.
        seed: shuffle seed (``None``: unseeded).
        drop_remainder: drop the last incomplete batch (static batch size).
        one_hot: number of classes C to one-hot encode int labels to float32 (B, C); ``None`` keeps int32.
        deterministic: see the module docstring.

    Returns:
        a prefetched ``tf.data.Dataset`` of ``(images, labels)``.
    """
    batch_size = _check_batch_size(batch_size)
    if num_examples < 1:
        raise ValueError(f"the dataset is empty (num_examples={num_examples}); expected at least one example")
    if augment is not None and not callable(augment):
        raise TypeError(f"`augment` must be a callable or Keras layer, got {type(augment).__name__}")
    if one_hot is not None and (isinstance(one_hot, bool) or int(one_hot) < 1):
        raise ValueError(f"`one_hot` must be None or the number of classes (>= 1), got {one_hot!r}")
    autotune = tf.data.AUTOTUNE
    if shuffle and not cache:
        ds = ds.shuffle(num_examples, seed=seed, reshuffle_each_iteration=True)
    if decode is not None:
        ds = ds.map(lambda s, y: (decode(s), y), num_parallel_calls=autotune, deterministic=True)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
        if shuffle:
            ds = ds.shuffle(min(num_examples, SHUFFLE_BUFFER_LIMIT), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=autotune, deterministic=True)

    def to_float(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = as_images(x, name="images", rank=x.shape.rank, value_range=False)  # uint8 / 255, float as is
        if y.shape.rank is not None and y.shape.rank >= 2:
            y = tf.cast(y, tf.float32)  # multi-hot labels, ready for binary cross-entropy
        elif one_hot is not None:
            y = tf.one_hot(tf.cast(y, tf.int32), int(one_hot), dtype=tf.float32)
        else:
            y = tf.cast(y, tf.int32)
        return x, y

    ds = ds.map(to_float, num_parallel_calls=autotune, deterministic=True)
    if augment is not None:
        # Sequential when deterministic: a stateful (seeded) random layer then sees the batches in order.
        parallel = {} if deterministic else {"num_parallel_calls": autotune, "deterministic": False}
        ds = ds.map(lambda x, y: (_apply_augment(augment, x), y), **parallel)
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return ds.with_options(options).prefetch(autotune)


def from_arrays(images: Any, labels: Any, batch_size: int, **options: Any) -> tf.data.Dataset:
    """A batched dataset from in-memory arrays, through the same tail as folder datasets.

    Args:
        images: (N, H, W, C) or (N, D, H, W, C), uint8 [0, 255] or float in [0, 1].
        labels: (N,) int class indices or (N, C) multi-hot.
        batch_size: images per batch.
        **options: the keyword options of :func:`finish_dataset` (``shuffle``, ``augment``, ``cache``,
            ``seed``, ``drop_remainder``, ``one_hot``, ``deterministic``).

    Returns:
        ``tf.data.Dataset`` of ``(images float32 [0, 1], labels)``.
    """
    x = np.asarray(images)
    y = np.asarray(labels)
    if x.ndim not in (4, 5):
        raise ValueError(f"`images` must be (N, H, W, C) or (N, D, H, W, C), got shape {x.shape}")
    check_images(x, name="images", rank=x.ndim)  # dtype, empty batch, float range [0, 1]
    if x.dtype.kind == "f" or x.dtype == bool:  # bool pixels are 0/1 values
        x = x.astype(np.float32, copy=False)
    elif x.dtype != np.uint8:
        raise TypeError(f"`images` must be uint8 or float in [0, 1], got dtype {x.dtype}")
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"`labels` must be (N,) or (N, C) with N={x.shape[0]} to match `images`, got {y.shape}"
        )
    if y.dtype.kind not in "iub":
        raise TypeError(f"`labels` must be integers (class indices or multi-hot 0/1), got dtype {y.dtype}")
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    return finish_dataset(ds, num_examples=len(x), batch_size=batch_size, **options)


class InMemoryData:
    """Mixin of the in-memory data containers (synthetic scenes and volumes): :meth:`dataset`.

    The container has ``labels``, ``num_classes`` and the array named by ``_inputs`` (``"images"``).
    """

    _inputs = "images"

    def dataset(self, batch_size: int, one_hot: bool | int | None = None, **options: Any) -> tf.data.Dataset:
        """A batched ``tf.data.Dataset`` of ``(inputs float32 in [0, 1], labels)`` (:func:`from_arrays`).

        Labels are int32 (B,), float32 (B, C) one-hot with ``one_hot=True`` (C = ``num_classes``) or
        ``one_hot=C``, or float32 (B, C) multi-hot for multi-label data. ``options``: the keyword options of
        :func:`finish_dataset` (``shuffle``, ``augment``, ``seed``, ``drop_remainder``, ...).
        """
        if one_hot is True:
            one_hot = self.num_classes  # type: ignore[attr-defined]
        elif one_hot is False:
            one_hot = None
        inputs = getattr(self, self._inputs)
        return from_arrays(inputs, self.labels, batch_size, one_hot=one_hot, **options)  # type: ignore[attr-defined]
