"""Stage 2 of HR-CAM: training the FullModel's expansion path with the classifier frozen (``FullModel.fit``;
part of :mod:`hrcam.models` so the model trains itself without importing :mod:`hrcam.training`).

Objectives (``FullModel.objective``):

* ``"reconstruct"``: the paper's. The expansion path reconstructs the input image (MSE) from the frozen
  encoder features and skips. The classifier's cross-entropy is dropped: with every classifier layer frozen
  it has no trainable parameter upstream and contributed no gradient in the original either.
* ``"align"``: reconstruction plus ``align_weight`` x the mean squared difference between the high-res
  activations average-pooled to the CAM grid and the low-res CAM activations (``conv_aux``). Because the
  CAM is linear in the activations, this makes the average-pooled high-res CAM equal the low-res CAM
  the classifier actually uses, for every class at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from hrcam.models.compiling import make_optimizer
from hrcam.models.layers import LAYERS, high_res_layer

if TYPE_CHECKING:  # pragma: no cover
    from hrcam.models.full import FullModel

__all__ = ["build_stage2_model", "compile_stage2", "fit_full_model", "stage2_dataset"]


class _MeanSquaredDifference(keras.layers.Layer):
    """(B, h, w, K), (B, h, w, K) -> (B, 1) mean squared difference per image."""

    def call(self, a, b):
        return keras.ops.mean(keras.ops.square(a - b), axis=(1, 2, 3))[:, None]


def build_stage2_model(fm: FullModel) -> keras.Model:
    """A training view of ``fm.model`` (shared layers): images -> {reconstruction, alignment (align only)}."""
    model = fm.model
    outputs = {LAYERS.reconstruction: model.output[LAYERS.reconstruction]}
    if fm.objective == "align":
        high = high_res_layer(model).output
        low = model.get_layer(LAYERS.cam_features).output
        stride = int(high.shape[1]) // int(low.shape[1])
        pooled = keras.layers.AveragePooling2D(stride, name="align_pool")(high)
        outputs["alignment"] = _MeanSquaredDifference(name="alignment")(pooled, low)
    return keras.Model(model.inputs[0], outputs, name="full_stage2")


def stage2_dataset(dataset: tf.data.Dataset | None, objective: str) -> tf.data.Dataset | None:
    """(images, labels) -> (images, targets): the input itself for reconstruction, zeros for alignment."""
    if dataset is None:
        return None

    def to_targets(images, *_):
        targets = {LAYERS.reconstruction: images}
        if objective == "align":
            targets["alignment"] = tf.zeros([tf.shape(images)[0], 1])
        return images, targets

    return dataset.map(to_targets, num_parallel_calls=tf.data.AUTOTUNE)


def compile_stage2(
    fm: FullModel, optimizer: str = "adadelta", learning_rate: float = 1.0, align_weight: float = 1.0
) -> keras.Model:
    """Freeze the classifier, build the stage-2 view and compile it."""
    if align_weight < 0:
        raise ValueError(f"`align_weight` must be >= 0, got {align_weight!r}")
    fm.freeze_classifier()
    train_model = build_stage2_model(fm)
    losses = {LAYERS.reconstruction: "mse"}
    weights = {LAYERS.reconstruction: 1.0}
    if fm.objective == "align":
        losses["alignment"] = "mae"  # the output is already a per-image mean squared difference >= 0
        weights["alignment"] = float(align_weight)
    train_model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=losses, loss_weights=weights)
    return train_model


def fit_full_model(
    fm: FullModel,
    train_data,
    validation_data=None,
    epochs: int = 1,
    optimizer: str = "adadelta",
    learning_rate: float = 1.0,
    align_weight: float = 1.0,
    **fit_kwargs,
):
    """Train the expansion path on (images, labels) datasets; returns the Keras History."""
    train_model = compile_stage2(fm, optimizer, learning_rate, align_weight)
    return train_model.fit(
        stage2_dataset(train_data, fm.objective),
        validation_data=stage2_dataset(validation_data, fm.objective),
        epochs=epochs,
        **{"shuffle": False, **fit_kwargs},  # datasets shuffle themselves; Keras would only warn
    )
