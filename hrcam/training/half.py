"""Stage 1: training the HalfModel classifier (the paper's Adadelta, learning rate 1.0)."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["compile_half_model", "labels_are_one_hot", "make_optimizer"]


def make_optimizer(name: str = "adadelta", learning_rate: float = 1.0) -> keras.optimizers.Optimizer:
    """An optimizer by name. The paper used Adadelta with learning rate 1.0 (Keras 3's default is 0.001)."""
    optimizers = {
        "adadelta": keras.optimizers.Adadelta,
        "adam": keras.optimizers.Adam,
        "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9),
    }
    if name not in optimizers:
        raise ValueError(f"`optimizer` must be one of {sorted(optimizers)}, got {name!r}")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}")
    return optimizers[name](learning_rate=learning_rate)


def labels_are_one_hot(dataset: tf.data.Dataset | None) -> bool:
    """True when a (images, labels) dataset yields one-hot (B, C) labels rather than (B,) indices."""
    if dataset is None or not isinstance(dataset, tf.data.Dataset):
        return False
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(f"`train_data` must yield (images, labels) pairs, got element_spec {spec}")
    return spec[1].shape.rank == 2 and spec[1].shape[-1] not in (None, 1)


def compile_half_model(
    model: keras.Model,
    train_data: tf.data.Dataset | None = None,
    optimizer: str = "adadelta",
    learning_rate: float = 1.0,
) -> keras.Model:
    """Compile with cross-entropy (sparse or one-hot, read from ``train_data``), accuracy and top-5."""
    num_classes = int(model.output_shape[-1])
    one_hot = labels_are_one_hot(train_data)
    loss = keras.losses.CategoricalCrossentropy() if one_hot else keras.losses.SparseCategoricalCrossentropy()
    top = (keras.metrics.TopKCategoricalAccuracy if one_hot else keras.metrics.SparseTopKCategoricalAccuracy)(
        k=min(5, num_classes), name="top5_accuracy"
    )
    acc = keras.metrics.CategoricalAccuracy if one_hot else keras.metrics.SparseCategoricalAccuracy
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate), loss=loss, metrics=[acc(name="accuracy"), top]
    )
    return model
