"""A torchvision-layout ResNet in Keras (NHWC), small enough to train on a CPU, named so that a ported
torchvision ResNet-18/50 fits the same CASM code.

Layout (as torchvision's ``ResNet``): ``conv1`` 7x7/2 (explicit zero padding 3), ``bn1``, ``relu``,
``maxpool`` 3x3/2 (padding 1), ``layer1`` .. ``layer4`` (stride 1, 2, 2, 2; the stride sits on the 3x3
convolution as in torchvision, not on the 1x1 as in keras.applications' Caffe ResNet), global average
pooling ``avgpool`` and ``fc`` (the logits), then ``probabilities``. Block layers are named
``layer{i}_{j}_conv1`` etc. (torchvision's ``layer{i}.{j}.conv1`` with ``_``); the output tensor of each
stage is the layer named ``layer{i}`` (the last block's ReLU), the CASM masker's stage features. BN uses
torch's eps 1e-5 and Keras momentum 0.9.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from hrcam.highres.layers import LAYERS
from hrcam.highres.preprocessing import PixelPreprocessing

__all__ = ["RESNET_STAGES", "build_resnet"]

RESNET_STAGES = ("maxpool", "layer1", "layer2", "layer3", "layer4")
_BN = {"epsilon": 1e-5, "momentum": 0.9}


def _bn(name: str):
    return layers.BatchNormalization(name=name, **_BN)


def _conv(filters: int, k: int, stride: int, name: str):
    return layers.Conv2D(filters, k, strides=stride, padding="valid", use_bias=False, name=name)


def _conv3(x, filters: int, stride: int, name: str):
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return _conv(filters, 3, stride, name)(x)


def _block(x, filters: int, stride: int, bottleneck: bool, name: str, out_name: str | None):
    expansion = 4 if bottleneck else 1
    shortcut = x
    if stride != 1 or x.shape[-1] != filters * expansion:
        shortcut = _conv(filters * expansion, 1, stride, f"{name}_downsample_0")(x)
        shortcut = _bn(f"{name}_downsample_1")(shortcut)
    if bottleneck:
        y = layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(_conv(filters, 1, 1, f"{name}_conv1")(x)))
        y = layers.ReLU(name=f"{name}_relu2")(_bn(f"{name}_bn2")(_conv3(y, filters, stride, f"{name}_conv2")))
        y = _bn(f"{name}_bn3")(_conv(filters * 4, 1, 1, f"{name}_conv3")(y))
    else:
        y = layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(_conv3(x, filters, stride, f"{name}_conv1")))
        y = _bn(f"{name}_bn2")(_conv3(y, filters, 1, f"{name}_conv2"))
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=out_name or f"{name}_relu")(y)


def build_resnet(
    num_classes: int,
    input_shape: tuple[int, int, int] = (64, 64, 3),
    blocks: Sequence[int] = (1, 1, 1, 1),
    widths: Sequence[int] = (16, 32, 64, 128),
    stem: int = 16,
    bottleneck: bool = False,
    name: str = "resnet",
    preprocessing: str = "symmetric",
) -> keras.Model:
    """A torchvision-layout ResNet: pixels in [0, 1] -> probabilities (the ``fc`` layer gives logits).

    ``blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512), stem=64`` is ResNet-18; ``blocks=(3, 4, 6, 3)`` with
    ``bottleneck=True`` is ResNet-50. The ``preprocess`` layer maps pixels to [-1, 1] (``"symmetric"``) or
    standardises them with the ImageNet mean and std (``"imagenet"``, torchvision's ``Normalize``: what a
    ported torchvision model needs; :func:`hrcam.casm.torch_import.resnet_from_torchvision`).
    """
    if preprocessing not in ("symmetric", "imagenet"):
        raise ValueError(f"`preprocessing` must be 'symmetric' or 'imagenet', got {preprocessing!r}")
    if len(blocks) != 4 or len(widths) != 4 or min(blocks) < 1 or min(widths) < 1:
        raise ValueError(f"`blocks` and `widths` must be 4 positive ints each, got {blocks!r}, {widths!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    if preprocessing == "imagenet":
        x = PixelPreprocessing("torch", name=LAYERS.preprocess)(inputs)
    else:
        x = layers.Rescaling(2.0, offset=-1.0, name=LAYERS.preprocess)(inputs)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.ReLU(name="relu")(_bn("bn1")(_conv(stem, 7, 2, "conv1")(x)))
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for i, (n, w) in enumerate(zip(blocks, widths), start=1):
        for j in range(n):
            stride = 2 if (j == 0 and i > 1) else 1
            x = _block(x, w, stride, bottleneck, f"layer{i}_{j}", f"layer{i}" if j == n - 1 else None)
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    logits = layers.Dense(num_classes, name="fc")(x)
    probs = layers.Softmax(name=LAYERS.probabilities, dtype="float32")(logits)
    return keras.Model(inputs, probs, name=name)
