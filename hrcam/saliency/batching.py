"""The NumPy front door's batching: check, resolve targets, run one compiled ``compute`` per chunk.

One ``tf.function`` per (input shape, k, squeeze) is cached on the method (``method.compiled_fns``, which
also holds its compiled forward pass, ``"predict"``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.arrays import resolve_targets

__all__ = ["run_batched", "predict_batched"]


def run_batched(method: Any, x: Any, target_class: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Check ``x`` and the targets (:func:`resolve_targets`, at the boundary), then run the method's compiled
    core chunk by chunk: ``(preds (B, C), classes (B, k), maps)`` tensors (maps (B, ...) unless targets are
    (B, k))."""
    x = method.check_input(x)
    batch = int(x.shape[0])
    classes, multi = resolve_targets(target_class, batch, method.num_classes, name="target_class")
    fn = _compiled(method, tuple(int(s) for s in x.shape[1:]), int(classes.shape[1]), squeeze=not multi)
    step = max(1, method.batch_size // max(1, int(method.samples_per_image)))
    base_seed = _base_seed(method)
    outs = []
    for i, start in enumerate(range(0, batch, step)):
        xb = x if step >= batch else x[start : start + step]  # no copy for a single chunk
        cb = tf.constant(classes[start : start + step], tf.int32)
        outs.append(fn(xb, cb, tf.constant([base_seed, i], tf.int32)))
    joined = [o[0] if len(outs) == 1 else tf.concat(list(o), 0) for o in zip(*outs, strict=True)]
    return joined[0], joined[1], joined[2]


def predict_batched(method: Any, x: Any) -> tf.Tensor:
    """(B, C) float32 model outputs of the method's model for checked ``x``, ``batch_size`` images a call."""
    x = method.check_input(x)
    fn = method.compiled_fns["predict"]
    step = method.batch_size
    outs = [fn(x[start : start + step]) for start in range(0, int(x.shape[0]), step)]
    return outs[0] if len(outs) == 1 else tf.concat(outs, 0)


def _base_seed(method: Any) -> int:
    seed = getattr(method, "seed", None)
    if seed is None:
        return int(np.random.default_rng().integers(0, 2**31 - 1))
    return int(seed)


def _compiled(method: Any, item_shape: tuple[int, ...], k: int, squeeze: bool = False) -> Any:
    key = (item_shape, k, squeeze)
    fn = method.compiled_fns.get(key)
    if fn is None and not method.traceable:  # eager: the source does NumPy work inside compute
        fn = method.compiled_fns[key] = functools.partial(_batch, method, squeeze=squeeze)
    if fn is None:
        fn = tf.function(
            functools.partial(_batch, method, squeeze=squeeze),
            input_signature=[
                tf.TensorSpec((None, *item_shape), tf.float32),
                tf.TensorSpec((None, k), tf.int32),
                tf.TensorSpec((2,), tf.int32),
            ],
            autograph=False,
        )
        method.compiled_fns[key] = fn
    return fn


def _batch(
    method: Any, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor, squeeze: bool
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    res = method.compute(x, classes, seed=seed)
    return res.preds, res.classes, (tf.squeeze(res.maps, axis=1) if squeeze else res.maps)
