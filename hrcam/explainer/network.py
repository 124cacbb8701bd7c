"""The Explainer network (Stalder et al., NeurIPS 2022): one segmentation logit map per class.

:func:`build_explainer` gives a plain Functional ``keras.Model``: raw pixels (B, H, W, 3) in [0, 1] ->
logits (B, H, W, C), one map per class, a DeepLabv3 head (:func:`deeplab_head`: ASPP with three dilated 3x3
branches (rates 12/24/36 by default), a 1x1 branch and an image-pooling branch, 1x1 projection + BN + ReLU +
Dropout 0.5, then 3x3 conv + BN + ReLU and a 1x1 classifier) on a feature extractor, up-sampled bilinearly
(half-pixel centres = torch's ``align_corners=False``) to the input size. With ``decoder_stride`` the head is
DeepLabv3+'s instead (:func:`deeplab_plus_head`: the ASPP output joined with a shallower feature map of the
same backbone, so the masks are finer than the features' stride). Feature extractors:

* ``"resnet50"``: ``keras.applications.ResNet50`` dilated to output stride 8 (:func:`dilate_backbone`: the
  strides of the last two stages become 1 and their 3x3 convolutions dilated 2 and 4, as torchvision's
  ``replace_stride_with_dilation=[False, True, True]``);
* ``"classifier"``: a trainable copy of the frozen classifier's own feature stages (its layer ``features``,
  see :mod:`hrcam.explainer.classifier`), initialised with the classifier's weights.

:class:`ClassMasks` (a registered layer) turns the logits and each image's target classes into the target
mask ``m = sigmoid(max_{c in targets} S_c)`` and the non-target mask ``n = sigmoid(max_{c not in targets}
S_c)`` (0 where the set is empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import layers

from hrcam.explainer.classifier import FEATURES_LAYER
from hrcam.highres.layers import LAYERS
from hrcam.highres.preprocessing import PixelPreprocessing, application_weights

__all__ = [
    "BACKBONES",
    "ClassMasks",
    "aggregate_masks",
    "build_explainer",
    "deeplab_head",
    "deeplab_plus_head",
    "dilate_backbone",
    "stride_layer",
]

BACKBONES = ("resnet50", "classifier")


def dilate_backbone(model: keras.Model, output_stride: int = 8) -> keras.Model:
    """A copy of a Functional CNN whose down-sampling stops at ``output_stride``: every stride-2 layer past
    it gets stride 1, and every later k x k convolution (k > 1) a dilation of (its original stride) /
    ``output_stride``. Weights are copied (shapes do not change).

    Raises:
        ValueError: ``output_stride`` not a power of 2 >= 1, or a model without a static input size.
    """
    if output_stride < 1 or output_stride & (output_stride - 1):
        raise ValueError(f"`output_stride` must be a power of 2, got {output_stride!r}")
    size = model.input_shape[1]
    if size is None:
        raise ValueError("dilate_backbone needs a model with a static input size")
    config = model.get_config()
    by_name = {cfg["config"]["name"]: cfg for cfg in config["layers"]}
    for layer in model.layers:
        shape = layer.output.shape if hasattr(layer, "output") else None
        if shape is None or len(shape) != 4 or not shape[1]:
            continue
        stride = size // shape[1]
        if stride <= output_stride:
            continue
        cfg = by_name[layer.name]["config"]
        if tuple(cfg.get("strides", (1, 1)))[0] > 1:
            cfg["strides"] = [1, 1]
            if "pool_size" in cfg:
                cfg["padding"] = "same"
        if by_name[layer.name]["class_name"] == "Conv2D" and tuple(cfg["kernel_size"])[0] > 1:
            d = stride // output_stride
            cfg["dilation_rate"] = [d, d]
            cfg["padding"] = "same"
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _conv_bn_relu(x, filters: int, kernel: int, name: str, dilation: int = 1):
    x = layers.Conv2D(
        filters, kernel, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _aspp(features, channels: int, rates: Sequence[int], dropout: float):
    """ASPP: 1x1, dilated 3x3 (one per rate) and image-pooling branches, 1x1 projection, dropout."""
    h, w = int(features.shape[1]), int(features.shape[2])
    branches = [_conv_bn_relu(features, channels, 1, "aspp_1x1")]
    for r in rates:
        branches.append(_conv_bn_relu(features, channels, 3, f"aspp_rate{r}", dilation=int(r)))
    pool = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(features)
    pool = _conv_bn_relu(pool, channels, 1, "aspp_pool")
    branches.append(layers.UpSampling2D((h, w), name="aspp_pool_up")(pool))  # 1x1 -> h x w: bilinear = copy
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = _conv_bn_relu(x, channels, 1, "aspp_project")
    return layers.Dropout(dropout, name="aspp_dropout")(x)


def deeplab_head(
    features, num_classes: int, channels: int = 256, rates: Sequence[int] = (12, 24, 36), dropout: float = 0.5
):
    """torchvision's ``DeepLabHead`` on a (B, h, w, K) tensor -> (B, h, w, num_classes) logits."""
    x = _aspp(features, channels, rates, dropout)
    x = _conv_bn_relu(x, channels, 3, "head")
    return layers.Conv2D(num_classes, 1, name="class_logits")(x)


def deeplab_plus_head(
    features,
    low_level,
    num_classes: int,
    channels: int = 256,
    rates: Sequence[int] = (12, 24, 36),
    dropout: float = 0.5,
    low_level_channels: int = 48,
):
    """DeepLabv3+ (Chen et al., ECCV 2018): the ASPP output up-sampled bilinearly to a shallower feature map
    ``low_level`` (B, h', w', K'), concatenated with its 1x1 projection to ``low_level_channels``, two 3x3
    convolutions and a 1x1 classifier -> (B, h', w', num_classes) logits."""
    x = _aspp(features, channels, rates, dropout)
    h, w = int(low_level.shape[1]), int(low_level.shape[2])
    x = layers.Resizing(h, w, "bilinear", name="decoder_upsample")(x)
    low = _conv_bn_relu(low_level, low_level_channels, 1, "decoder_low")
    x = layers.Concatenate(name="decoder_concat")([x, low])
    x = _conv_bn_relu(x, channels, 3, "decoder_conv1")
    x = _conv_bn_relu(x, channels, 3, "decoder_conv2")
    return layers.Conv2D(num_classes, 1, name="class_logits")(x)


def stride_layer(model: keras.Model, stride: int) -> str:
    """The name of the last layer (in the model's layer order) whose output is a 4-D map at ``stride``
    (input side / output side), e.g. the end of the last stage before a down-sampling step.

    Raises:
        ValueError: ``model`` has no 4-D output at that stride.
    """
    size = int(model.input_shape[1])
    found = None
    for layer in model.layers:
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if shape is not None and len(shape) == 4 and shape[1] and size == stride * int(shape[1]):
            found = layer.name
    if found is None:
        raise ValueError(
            f"model {model.name!r} has no 4-D feature map at stride {stride} (input side {size})"
        )
    return found


def _with_low_level(model: keras.Model, decoder_stride: int | None) -> keras.Model:
    """``model`` (images -> features) or, with ``decoder_stride``, images -> [low-level map, features]."""
    if decoder_stride is None:
        return model
    feature_stride = int(model.input_shape[1]) // int(model.output_shape[1])
    if decoder_stride < 1 or decoder_stride & (decoder_stride - 1) or decoder_stride >= feature_stride:
        raise ValueError(
            f"`decoder_stride` must be a power of 2 below the features' stride {feature_stride}, "
            f"got {decoder_stride!r}"
        )
    try:
        name = stride_layer(model, decoder_stride)
    except ValueError as err:  # e.g. a keras.applications classifier: its stages sit in one nested layer
        raise ValueError(
            f"`decoder_stride` {decoder_stride}: {err}; the decoder needs a backbone whose stages are "
            "top-level layers (the 'resnet50' backbone or a densenet_fcn classifier)"
        ) from None
    low = model.get_layer(name).output
    return keras.Model(model.input, [low, model.output], name=f"{model.name}_with_low_level")


def _feature_extractor(
    backbone: Any, input_shape, weights, output_stride: int, decoder_stride: int | None = None
) -> keras.Model:
    if isinstance(backbone, keras.Model):  # the classifier: copy its feature stages
        try:
            feats = backbone.get_layer(FEATURES_LAYER).output
        except ValueError:
            raise ValueError(
                f"`backbone` model {backbone.name!r} has no layer {FEATURES_LAYER!r} (build it with "
                "hrcam.explainer.classifier.build_classifier)"
            ) from None
        if tuple(backbone.input_shape[1:]) != tuple(input_shape):
            raise ValueError(
                f"the classifier takes {backbone.input_shape[1:]}, "
                f"the explainer `input_shape` is {input_shape}"
            )
        part = keras.Model(backbone.input, feats)
        copy = keras.models.clone_model(part)
        copy.set_weights(part.get_weights())
        copy.trainable = True
        return _with_low_level(copy, decoder_stride)
    if backbone != "resnet50":
        raise ValueError(f"`backbone` must be one of {BACKBONES} (or the classifier model), got {backbone!r}")
    weights = application_weights(weights)  # None, "imagenet" or a local ResNet-50 "notop" weights file
    base = keras.applications.ResNet50(include_top=False, weights=weights, input_shape=tuple(input_shape))
    base = dilate_backbone(base, output_stride)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = PixelPreprocessing("torch" if weights is None else "caffe", name=LAYERS.preprocess)(inputs)
    return keras.Model(inputs, _with_low_level(base, decoder_stride)(x), name="dilated_resnet50")


def build_explainer(
    num_classes: int,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    backbone: str | keras.Model = "resnet50",
    weights: str | None = None,
    output_stride: int = 8,
    channels: int = 256,
    rates: Sequence[int] = (12, 24, 36),
    dropout: float = 0.5,
    decoder_stride: int | None = None,
    decoder_channels: int = 48,
) -> keras.Model:
    """The Explainer: pixels (B, H, W, 3) in [0, 1] -> per-class logits (B, H, W, num_classes).

    Args:
        num_classes: C >= 1.
        input_shape: (H, W, 3).
        backbone: ``"resnet50"`` (dilated, output stride ``output_stride``) or the classifier model (its
            ``features`` stages are copied, trainable, with the classifier's weights).
        weights: ``None``, ``"imagenet"`` or a local ResNet-50 weights file for the ResNet-50 backbone.
        channels, rates, dropout: the DeepLab head (256, (12, 24, 36), 0.5 in the original).
        decoder_stride: ``None`` (the original's DeepLabv3 head: logits at the features' stride, up-sampled
            bilinearly) or a power of 2 below that stride (4 in DeepLabv3+): a DeepLabv3+ decoder on the
            backbone's last feature map at that stride (:func:`stride_layer`), so the masks come from a grid
            ``decoder_stride`` pixels apart instead of ``output_stride``.
        decoder_channels: the 1x1 projection of that low-level map (48 in DeepLabv3+).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int, got {num_classes!r}")
    if not 0 <= float(dropout) < 1:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}")
    if not rates or any(int(r) < 1 for r in rates):
        raise ValueError(f"`rates` must be positive dilation rates, got {rates!r}")
    if decoder_stride is not None and (
        isinstance(decoder_stride, bool) or not isinstance(decoder_stride, int)
    ):
        raise TypeError(f"`decoder_stride` must be None or an int, got {decoder_stride!r}")
    if isinstance(decoder_channels, bool) or not isinstance(decoder_channels, int) or decoder_channels < 1:
        raise ValueError(f"`decoder_channels` must be a positive int, got {decoder_channels!r}")
    extractor = _feature_extractor(backbone, input_shape, weights, output_stride, decoder_stride)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    if decoder_stride is None:
        logits = deeplab_head(extractor(inputs), num_classes, channels, rates, dropout)
    else:
        low, feats = extractor(inputs)
        logits = deeplab_plus_head(feats, low, num_classes, channels, rates, dropout, decoder_channels)
    out = layers.Resizing(int(input_shape[0]), int(input_shape[1]), "bilinear", name="upsample")(logits)
    return keras.Model(inputs, out, name="explainer")


def aggregate_masks(logits: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(m, n), each (B, H, W): sigmoid of the max logit over the target / non-target classes.

    Args:
        logits: (B, H, W, C) per-class logits.
        targets: (B, C) multi-hot (1 = a target class of that image).
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    t = tf.cast(targets, tf.bool)[:, None, None, :]
    low = tf.fill(tf.shape(logits), tf.constant(-1e9, tf.float32))
    m = tf.sigmoid(tf.reduce_max(tf.where(t, logits, low), axis=-1))
    n = tf.sigmoid(tf.reduce_max(tf.where(t, low, logits), axis=-1))
    return m, n


@keras.saving.register_keras_serializable(package="hrcam")
class ClassMasks(keras.layers.Layer):
    """Layer form of :func:`aggregate_masks`: ``[logits (B, H, W, C), targets (B, C)] -> [m, n]``."""

    def call(self, inputs):
        logits, targets = inputs
        return list(aggregate_masks(logits, targets))

    def get_config(self):
        return super().get_config()
