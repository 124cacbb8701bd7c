"""Pixel preprocessing inside the Keras model, so saved and exported models take raw pixels."""

from __future__ import annotations

import keras
from keras import ops as K

__all__ = ["PixelPreprocessing", "APPLICATION_MODES", "application_weights"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# keras.applications family -> the preprocessing its ImageNet weights expect (see each module's
# ``preprocess_input``); "raw255" = the model rescales internally and wants 0-255 pixels.
APPLICATION_MODES = {
    "densenet121": "torch",
    "densenet169": "torch",
    "densenet201": "torch",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "mobilenetv2": "tf",
    "resnet50v2": "tf",
    "resnet101v2": "tf",
    "resnet152v2": "tf",
    "inceptionv3": "tf",
    "inception_v3": "tf",
    "xception": "tf",
    "resnet50": "caffe",
    "resnet101": "caffe",
    "resnet152": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "efficientnetb0": "raw255",
    "efficientnetb1": "raw255",
    "efficientnetb2": "raw255",
    "efficientnetb3": "raw255",
    "efficientnetv2b0": "raw255",
    "convnexttiny": "raw255",
}


@keras.saving.register_keras_serializable(package="hrcam")
class PixelPreprocessing(keras.layers.Layer):
    """Map float pixels in [0, 1] to what a backbone expects.

    Modes: ``"tf"`` -> [-1, 1]; ``"torch"`` -> ImageNet mean/std standardisation; ``"caffe"`` -> 0-255
    BGR minus the ImageNet channel means; ``"raw255"`` -> 0-255; ``"none"`` -> unchanged.
    Input and output: (B, H, W, 3) float32.
    """

    MODES = ("tf", "torch", "caffe", "raw255", "none")

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"`mode` must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def call(self, x):
        x = K.cast(x, "float32")
        if self.mode == "tf":
            return x * 2.0 - 1.0
        if self.mode == "torch":
            return (x - K.array(_IMAGENET_MEAN)) / K.array(_IMAGENET_STD)
        if self.mode == "caffe":
            return K.flip(x, axis=-1) * 255.0 - K.array(_CAFFE_MEAN_BGR)
        if self.mode == "raw255":
            return x * 255.0
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def application_weights(weights, name: str = "weights"):
    """A ``keras.applications`` ``weights`` argument, checked: None, ``"imagenet"`` (downloaded once by
    Keras) or the path of a local weights file (the same files, e.g.
    ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``, so a machine without network needs no download).

    Returns None, "imagenet" or the path as a string. Raises FileNotFoundError for a path that is not a file,
    TypeError for anything else.
    """
    import os

    if weights is None or weights == "imagenet":
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"`{name}` must be None, 'imagenet' or a weights file path, got {type(weights).__name__}"
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f"`{name}` {os.fspath(weights)!r} is not a file; expected None, 'imagenet' or the path of a "
            "keras.applications weights file (the include_top=False one, '..._notop.h5')"
        )
    return os.fspath(weights)
