"""Stage 2 of HR-CAM: training the FullModel's expansion path with the classifier frozen (``FullModel.fit``;
part of :mod:`hrcam.highres` so the model trains itself without importing :mod:`hrcam.training`).

Objectives (``FullModel.objective``):

* ``"reconstruct"``: the paper's. The expansion path reconstructs the input image (MSE) from the frozen
  encoder features and skips. The classifier's cross-entropy is dropped: with every classifier layer frozen
  it has no trainable parameter upstream and contributed no gradient in the original either.
* ``"align"``: reconstruction plus ``align_weight`` x the mean squared difference between the high-res
  activations average-pooled to the CAM grid and the low-res CAM activations (``conv_aux``). Because the
  CAM is linear in the activations, this makes the average-pooled high-res CAM equal the low-res CAM
  the classifier actually uses, for every class at once.
* ``"distil"`` (the resize expansion path): no reconstruction (``reconstruction_weight`` 0 by default). The
  loss distils the low-res CAM activations at several scales: for each stride s in (S, S/2, S/4) (S the CAM
  stride), the high-res activations average-pooled by s against the low-res activations bilinearly resized
  to that grid (mean squared difference over all channels, divided by the mean square of the low-res
  activations so the loss does not depend on their scale), plus ``edge_weight`` x an edge-aware smoothness
  term: the mean absolute difference between neighbouring high-res activations (same normalisation), each
  weighted by ``exp(-|I_i - I_j| / 0.1)`` (mean over colour channels; images in [0, 1]), so the map may only
  change where the image does. The weights are fixed a priori (not tuned on any test image).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from hrcam.highres.compiling import make_optimizer
from hrcam.highres.layers import LAYERS, high_res_layer

__all__ = [
    "DistilLoss",
    "DISTIL_EDGE_WEIGHT",
    "build_stage2_model",
    "compile_stage2",
    "fit_full_model",
    "stage2_dataset",
]


#: ``distil``'s reconstruction weight (off) and edge-aware smoothness weight, fixed a priori
DISTIL_RECONSTRUCTION_WEIGHT = 0.0
DISTIL_EDGE_WEIGHT = 0.1
_LOSS_OUTPUTS = {"align": "alignment", "distil": "distillation"}


class _MeanSquaredDifference(keras.layers.Layer):
    """(B, h, w, K), (B, h, w, K) -> (B, 1) mean squared difference per image."""

    def call(self, a, b):
        return keras.ops.mean(keras.ops.square(a - b), axis=(1, 2, 3))[:, None]


class DistilLoss(keras.layers.Layer):
    """(high (B, H, W, K), low (B, h, w, K), images (B, H, W, C)) -> (B, 1) per-image distillation loss (see
    the module docstring): multi-scale distillation of the low-res activations + edge-aware smoothness."""

    def __init__(self, strides=(1, 2, 4), edge_weight: float = 0.1, edge_scale: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.strides = tuple(int(s) for s in strides)  # divisors of the CAM stride S
        self.edge_weight = float(edge_weight)
        self.edge_scale = float(edge_scale)

    def get_config(self):
        return {
            **super().get_config(),
            "strides": self.strides,
            "edge_weight": self.edge_weight,
            "edge_scale": self.edge_scale,
        }

    def call(self, high, low, images):
        ops = keras.ops
        high = ops.cast(high, "float32")
        low = ops.cast(low, "float32")
        cam_stride = int(high.shape[1]) // int(low.shape[1])
        scale = ops.mean(ops.square(low), axis=(1, 2, 3)) + 1e-6  # (B,)
        total = 0.0
        for div in self.strides:
            s = cam_stride // div
            if s < 1:
                continue
            grid = (int(high.shape[1]) // s, int(high.shape[2]) // s)
            pooled = ops.average_pool(high, s, s, padding="valid") if s > 1 else high
            target = low if div == 1 else ops.image.resize(low, grid, interpolation="bilinear")
            total = total + ops.mean(ops.square(pooled - target), axis=(1, 2, 3)) / scale
        if self.edge_weight:
            img = ops.cast(images, "float32")
            smooth = 0.0
            for axis in (1, 2):
                n = int(high.shape[axis])
                dh = ops.abs(ops.take(high, range(1, n), axis=axis) - ops.take(high, range(n - 1), axis=axis))
                di = ops.mean(
                    ops.abs(ops.take(img, range(1, n), axis=axis) - ops.take(img, range(n - 1), axis=axis)),
                    axis=-1,
                    keepdims=True,
                )
                smooth = smooth + ops.mean(dh * ops.exp(-di / self.edge_scale), axis=(1, 2, 3))
            total = total + self.edge_weight * smooth / ops.sqrt(scale)
        return total[:, None]


def build_stage2_model(
    fm: keras.Model,
    reconstruction_weight: float = DISTIL_RECONSTRUCTION_WEIGHT,
    edge_weight: float = DISTIL_EDGE_WEIGHT,
) -> keras.Model:
    """A training view of ``fm.model`` (shared layers): images -> {reconstruction, alignment (align only),
    distillation (distil only; reconstruction only when ``reconstruction_weight`` > 0)}."""
    model = fm.model
    outputs = {LAYERS.reconstruction: model.output[LAYERS.reconstruction]}
    if fm.objective == "distil":
        if not reconstruction_weight:
            outputs = {}
        high = high_res_layer(model).output
        low = model.get_layer(LAYERS.cam_features).output
        outputs["distillation"] = DistilLoss(edge_weight=edge_weight, name="distillation")(
            high, low, model.inputs[0]
        )
    if fm.objective == "align":
        high = high_res_layer(model).output
        low = model.get_layer(LAYERS.cam_features).output
        stride = int(high.shape[1]) // int(low.shape[1])
        pooled = keras.layers.AveragePooling2D(stride, name="align_pool")(high)
        outputs["alignment"] = _MeanSquaredDifference(name="alignment")(pooled, low)
    return keras.Model(model.inputs[0], outputs, name="full_stage2")


def stage2_dataset(
    dataset: tf.data.Dataset | None, objective: str, reconstruction_weight: float | None = None
) -> tf.data.Dataset | None:
    """(images, labels) -> (images, targets): the input itself for reconstruction, zeros for alignment and
    distillation (``distil`` has no reconstruction target unless ``reconstruction_weight`` > 0)."""
    if dataset is None:
        return None
    if reconstruction_weight is None:
        reconstruction_weight = DISTIL_RECONSTRUCTION_WEIGHT

    def to_targets(images, *_):
        targets = {LAYERS.reconstruction: images}
        if objective == "distil" and not reconstruction_weight:
            targets = {}
        if objective in _LOSS_OUTPUTS:
            targets[_LOSS_OUTPUTS[objective]] = tf.zeros([tf.shape(images)[0], 1])
        return images, targets

    return dataset.map(to_targets, num_parallel_calls=tf.data.AUTOTUNE)


def compile_stage2(
    fm: keras.Model, optimizer: str = "adadelta", learning_rate: float = 1.0, align_weight: float = 1.0
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
    if fm.objective == "distil":  # the output is already a per-image loss >= 0; reconstruction off
        losses = {"distillation": "mae"}
        weights = {"distillation": 1.0}
    train_model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=losses, loss_weights=weights)
    return train_model


def fit_full_model(
    fm: keras.Model,
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
