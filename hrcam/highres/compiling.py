"""Compile defaults of the HR-CAM classifier (the paper's Adadelta, learning rate 1.0).

Part of :mod:`hrcam.highres` so that a model compiles itself (``HalfModel.compile()``, the keras-hub
task-model pattern) without importing :mod:`hrcam.training`, which builds on the models.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from hrcam.config import OPTIMIZERS

__all__ = ["OPTIMIZERS", "labels_are_one_hot", "make_optimizer", "classifier_compile_args"]


def make_optimizer(name: str = "adadelta", learning_rate: float = 1.0) -> keras.optimizers.Optimizer:
    """An optimizer by name. The paper used Adadelta with learning rate 1.0 (Keras 3's default is 0.001)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}")
    if name == "adadelta":
        return keras.optimizers.Adadelta(learning_rate=learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    return keras.optimizers.SGD(learning_rate, momentum=0.9)


def labels_are_one_hot(dataset: Any) -> bool:
    """True when a (images, labels) dataset yields one-hot (B, C) labels rather than (B,) indices."""
    if dataset is None or not isinstance(dataset, tf.data.Dataset):
        return False
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(f"`train_data` must yield (images, labels) pairs, got element_spec {spec}")
    return spec[1].shape.rank == 2 and spec[1].shape[-1] not in (None, 1)


def classifier_compile_args(
    num_classes: int, one_hot: bool = False, optimizer: Any = "adadelta", learning_rate: float = 1.0
) -> dict[str, Any]:
    """``compile`` arguments of the classifier: cross-entropy (sparse, or one-hot labels), accuracy, top-5.

    ``optimizer`` is a name from :data:`OPTIMIZERS` (built with ``learning_rate``) or an optimizer object.
    """
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, learning_rate)
    loss = keras.losses.CategoricalCrossentropy() if one_hot else keras.losses.SparseCategoricalCrossentropy()
    top = (keras.metrics.TopKCategoricalAccuracy if one_hot else keras.metrics.SparseTopKCategoricalAccuracy)(
        k=min(5, num_classes), name="top5_accuracy"
    )
    acc = keras.metrics.CategoricalAccuracy if one_hot else keras.metrics.SparseCategoricalAccuracy
    return {"optimizer": optimizer, "loss": loss, "metrics": [acc(name="accuracy"), top]}
