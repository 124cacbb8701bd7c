"""The one table of layer names every hrcam classifier uses, and the CAM head that creates them.

Models, training, export and the CLI find layers through :data:`LAYERS` (never by index, never by a
string literal of their own), so that weights move between HalfModel and FullModel *by name*.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

__all__ = ["LAYERS", "LayerNames", "add_cam_head", "high_res_layer"]


@dataclass(frozen=True)
class LayerNames:
    """Names of the layers of hrcam's CAM head and expansion path (see :data:`LAYERS`)."""

    preprocess: str = "preprocess"  # pixel preprocessing inside the model ([0, 1] in)
    cam_features: str = "conv_aux"  # 1x1 conv: the CAM activations (B, h, w, K)
    pool: str = "gap"  # global average pooling of the CAM activations
    logits: str = "logits"  # Dense (K, C): its kernel weights the CAM channels
    probabilities: str = "probabilities"  # Softmax, the classifier's output (B, C)
    high_res: tuple[str, ...] = ("tr_up_early", "high_res_activations")  # (B, H, W, K), FullModel only
    reconstruction: str = "reconstruction"  # FullModel's stage-2 output (B, H, W, C)

    @property
    def cam_head(self) -> tuple[str, str, str]:
        """The layers a classifier must have to give CAMs."""
        return (self.cam_features, self.pool, self.logits)


LAYERS = LayerNames()


def add_cam_head(features, num_classes: int, cam_channels: int, weight_decay: float):
    """``conv_aux`` (1x1, no bias) -> ``gap`` -> ``logits`` (Dense) -> ``probabilities`` (softmax).

    Returns ``(cam_activations, logits, probabilities)`` tensors.
    """
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    cam_act = keras.layers.Conv2D(
        cam_channels,
        1,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=LAYERS.cam_features,
    )(features)
    pooled = keras.layers.GlobalAveragePooling2D(name=LAYERS.pool)(cam_act)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=reg, name=LAYERS.logits)(pooled)
    probs = keras.layers.Softmax(name=LAYERS.probabilities, dtype="float32")(logits)
    return cam_act, logits, probs


def high_res_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer of ``model`` whose output is the high-resolution activations (ValueError if none)."""
    names = {layer.name for layer in model.layers}
    for name in LAYERS.high_res:
        if name in names:
            return model.get_layer(name)
    raise ValueError(f"the Keras model has no high-resolution activation layer (one of {LAYERS.high_res})")
