"""Multi-label (and single-label) classifiers: the Explainer's "explanandum".

:func:`build_classifier` gives a plain Functional ``keras.Model`` that takes raw pixels (B, H, W, 3) in [0, 1]
(the preprocessing is inside the model) and returns **logits** (B, C) from a linear layer named ``logits``;
the last feature map is the layer named ``features`` (Grad-CAM's layer, and the Explainer's
``backbone="classifier"``). Architectures, as in NN-Explainer's ``classifier.py``:

* ``"vgg16"``: ``keras.applications.VGG16`` features + an MLP head (Flatten -> 4096 -> 4096 -> C, ReLU,
  Dropout 0.5);
* ``"resnet50"``: ``keras.applications.ResNet50`` + global average pooling + a linear head;
* ``"densenet_fcn"``: hrcam's DenseNet-FCN encoder (:func:`hrcam.highres.densenet_fcn.build_encoder`) + global
  average pooling + a linear head.

``weights=None`` trains from scratch (offline); ``weights="imagenet"`` (keras.applications backbones, needs
network once) loads ImageNet weights and freezes the backbone, as the original does; the path of the same
weights file on disk does the same without network.

Training (:func:`compile_classifier`): binary cross-entropy on the logits for multi-label data (sigmoid
outputs), categorical cross-entropy for single-label data; the micro metrics of the original's
``MultiLabelMetrics`` over all (sample, class) pairs, a logit counting as positive when >= ``threshold``
(0.0 for the classifier, -1.0 in the original's Explainer logs).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from hrcam.highres.densenet_fcn import DenseNetFCNConfig, build_encoder
from hrcam.highres.layers import LAYERS
from hrcam.highres.preprocessing import PixelPreprocessing, application_weights

__all__ = [
    "ARCHITECTURES",
    "FEATURES_LAYER",
    "LOGITS_LAYER",
    "MultiLabelMetric",
    "build_classifier",
    "compile_classifier",
    "multilabel_metrics",
]

ARCHITECTURES = ("vgg16", "resnet50", "densenet_fcn")
FEATURES_LAYER = "features"
LOGITS_LAYER = LAYERS.logits


def _backbone(architecture: str, inputs, weights: str | None, densenet: DenseNetFCNConfig | None):
    if architecture == "densenet_fcn":
        if weights is not None:
            raise ValueError(f"`weights` must be None for architecture 'densenet_fcn', got {weights!r}")
        features, _ = build_encoder(inputs, densenet or DenseNetFCNConfig())
        return features
    builder = keras.applications.VGG16 if architecture == "vgg16" else keras.applications.ResNet50
    weights = application_weights(weights)  # None, "imagenet" or a local file of the same weights
    mode = "torch" if weights is None else "caffe"  # keras.applications' ImageNet weights expect caffe input
    x = PixelPreprocessing(mode, name=LAYERS.preprocess)(inputs)
    base = builder(include_top=False, weights=weights, input_shape=tuple(inputs.shape[1:]))
    if weights is not None:
        base.trainable = False  # the original freezes the pretrained backbone and trains the head
    return base(x)


def build_classifier(
    architecture: str,
    num_classes: int,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    weights: str | None = None,
    densenet: DenseNetFCNConfig | None = None,
    hidden_units: int = 4096,
    dropout: float = 0.5,
) -> keras.Model:
    """A classifier returning logits (B, num_classes); see the module docstring.

    Args:
        architecture: ``"vgg16"``, ``"resnet50"`` or ``"densenet_fcn"``.
        num_classes: C >= 1.
        input_shape: (H, W, 3).
        weights: ``None``, ``"imagenet"`` or the path of a local keras.applications weights file
            (``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``, ...; keras.applications backbones only).
        densenet: the DenseNet-FCN sizes (``architecture="densenet_fcn"``).
        hidden_units, dropout: VGG-16's MLP head (4096 and 0.5 in the original).

    Raises:
        ValueError: unknown architecture, bad sizes or weights.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"`architecture` must be one of {ARCHITECTURES}, got {architecture!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int, got {num_classes!r}")
    if architecture == "densenet_fcn":
        (densenet or DenseNetFCNConfig()).check_input_shape(tuple(input_shape))
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    feats = layers.Identity(name=FEATURES_LAYER)(_backbone(architecture, inputs, weights, densenet))
    if architecture == "vgg16":
        x = layers.Flatten(name="flatten")(feats)
        for i in (1, 2):
            x = layers.Dense(hidden_units, activation="relu", name=f"fc{i}")(x)
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    else:
        x = layers.GlobalAveragePooling2D(name=LAYERS.pool)(feats)
    logits = layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    return keras.Model(inputs, logits, name=f"{architecture}_classifier")


@keras.saving.register_keras_serializable(package="hrcam")
class MultiLabelMetric(keras.metrics.Metric):
    """Micro accuracy / precision / recall / F over all (sample, class) pairs of multi-hot labels and
    logits; a logit is positive when >= ``threshold`` (NN-Explainer's ``MultiLabelMetrics``)."""

    KINDS = ("accuracy", "precision", "recall", "f1")

    def __init__(self, kind: str = "f1", threshold: float = 0.0, name: str | None = None, **kwargs: Any):
        if kind not in self.KINDS:
            raise ValueError(f"`kind` must be one of {self.KINDS}, got {kind!r}")
        super().__init__(name=name or f"micro_{kind}", **kwargs)
        self.kind, self.threshold = kind, float(threshold)
        self.counts = self.add_variable(shape=(4,), initializer="zeros", name="counts")  # tp, fp, fn, tn

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = keras.ops
        t = ops.cast(y_true, "float32") > 0.5
        p = ops.cast(y_pred, "float32") >= self.threshold
        f = lambda a: ops.sum(ops.cast(a, "float32"))  # noqa: E731
        self.counts.assign_add(ops.stack([f(t & p), f(~t & p), f(t & ~p), f(~t & ~p)]))

    def result(self):
        tp, fp, fn, tn = (self.counts[i] for i in range(4))
        eps = 1e-10
        if self.kind == "accuracy":
            return (tp + tn) / (tp + fp + fn + tn + eps)
        precision, recall = tp / (tp + fp + eps), tp / (tp + fn + eps)
        if self.kind == "precision":
            return precision
        if self.kind == "recall":
            return recall
        return 2 * precision * recall / (precision + recall + eps)

    def reset_state(self):
        self.counts.assign(keras.ops.zeros((4,)))

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "threshold": self.threshold}


def multilabel_metrics(threshold: float = 0.0, prefix: str = "") -> list[MultiLabelMetric]:
    """The four micro metrics at one logit ``threshold``, named ``{prefix}micro_<kind>``."""
    return [MultiLabelMetric(k, threshold, name=f"{prefix}micro_{k}") for k in MultiLabelMetric.KINDS]


def compile_classifier(model: keras.Model, multi_label: bool = True, learning_rate: float = 1e-4) -> None:
    """Compile with Adam: BCE-with-logits + micro metrics (multi-label, multi-hot labels), or CE-with-logits
    + accuracy (single-label, one-hot labels)."""
    if not float(learning_rate) > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}")
    opt = keras.optimizers.Adam(float(learning_rate))
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        metrics: list[Any] = multilabel_metrics(0.0)
    else:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
