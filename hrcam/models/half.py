"""HalfModel: the HR-CAM classifier (DenseNet-FCN encoder + GAP head) and its low-resolution CAM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.models.base import CamModelBase, add_cam_head
from hrcam.models.densenet_fcn import DenseNetFCNConfig, build_encoder
from hrcam.models.preprocessing import APPLICATION_MODES, PixelPreprocessing

__all__ = ["HalfModel", "build_half_model"]


def build_half_model(
    num_classes: int, input_shape: tuple[int, int, int], config: DenseNetFCNConfig
) -> keras.Model:
    """The classification network: inputs (B, H, W, C) in [0, 1] -> probabilities (B, num_classes)."""
    config.check_input_shape(tuple(input_shape))
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    features, _ = build_encoder(inputs, config)
    _, _, probs = add_cam_head(features, num_classes, config.cam_channels, config.weight_decay)
    return keras.Model(inputs, probs, name="half_densenet_fcn")


def _build_backbone_model(
    num_classes: int,
    input_shape: tuple[int, int, int],
    backbone: str | keras.Model,
    weights: str | None,
    cam_channels: int,
    preprocessing: str | None,
) -> keras.Model:
    if isinstance(backbone, str):
        key = backbone.lower().replace("-", "").replace("_", "")
        apps = {name.lower(): name for name in dir(keras.applications) if name[0].isupper()}
        if key not in apps:
            known = sorted(n for n in APPLICATION_MODES)
            raise ValueError(f"`backbone` {backbone!r} is not a keras.applications model; known: {known}")
        builder = getattr(keras.applications, apps[key])
        base = builder(include_top=False, weights=weights, input_shape=tuple(input_shape))
        mode = preprocessing or APPLICATION_MODES.get(key, "tf")
    elif isinstance(backbone, keras.Model):
        if weights is not None:
            raise ValueError("`weights` applies to named backbones only; load weights into your model first")
        base = backbone
        mode = preprocessing or "none"
    else:
        raise TypeError(
            f"`backbone` must be a keras.applications name or a keras.Model, got {type(backbone)}"
        )
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = PixelPreprocessing(mode, name="preprocess")(inputs)
    features = base(x)
    if len(features.shape) != 4:
        raise ValueError(
            f"`backbone` must output a 4-D feature map (B, h, w, K), got shape {tuple(features.shape)}"
        )
    _, _, probs = add_cam_head(features, num_classes, cam_channels, 0.0)
    return keras.Model(inputs, probs, name=f"half_{base.name}")


class HalfModel(CamModelBase):
    """The HR-CAM classification network with a CAM head.

    ``HalfModel(num_classes=10, input_shape=(64, 64, 3))`` builds the paper's DenseNet-FCN (sizes via
    ``config`` or keyword overrides such as ``num_blocks=3``); ``HalfModel(..., backbone="densenet121",
    weights="imagenet")`` puts the same CAM head on a ``keras.applications`` backbone (or on any
    ``keras.Model`` feature extractor).

    The underlying :attr:`model` takes (B, H, W, C) float32 pixels in [0, 1] and returns probabilities
    (B, num_classes); its layers ``conv_aux`` (CAM activations, (B, h, w, K)), ``gap``, ``logits``
    (Dense (K, C)) and ``probabilities`` (Softmax) are found by name.
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: tuple[int, int, int] = (64, 64, 3),
        config: DenseNetFCNConfig | None = None,
        *,
        backbone: str | keras.Model | None = None,
        weights: str | None = None,
        preprocessing: str | None = None,
        model: keras.Model | None = None,
        **config_overrides: Any,
    ):
        if model is not None:
            self.model = model
            self._check_model(model)
            self.config = config or DenseNetFCNConfig.from_model(model)
            return
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}")
        input_shape = tuple(input_shape)
        if config is None:
            config = DenseNetFCNConfig(**config_overrides)
        elif config_overrides:
            raise ValueError(
                f"pass either `config` or keyword overrides, not both: {sorted(config_overrides)}"
            )
        self.config = config
        if backbone is None:
            if weights is not None:
                raise ValueError(
                    f"`weights={weights!r}` needs a `backbone` (the DenseNet-FCN has no pretrained weights)"
                )
            self.model = build_half_model(int(num_classes), input_shape, config)
        else:
            self.model = _build_backbone_model(
                int(num_classes), input_shape, backbone, weights, config.cam_channels, preprocessing
            )

    @staticmethod
    def _check_model(model: keras.Model) -> None:
        names = {layer.name for layer in model.layers}
        missing = {"conv_aux", "gap", "logits"} - names
        if missing:
            raise ValueError(
                f"the Keras model has no layer(s) {sorted(missing)}; an hrcam model needs conv_aux -> gap -> "
                "logits -> probabilities (build it with HalfModel(...))"
            )

    @classmethod
    def load(cls, path: str | Path) -> HalfModel:
        """Load a model saved by :meth:`save` (a ``.keras`` file). A FullModel file loads its classifier."""
        model = cls._load_keras(path)
        if isinstance(model.output, dict):
            model = keras.Model(model.inputs, model.output["probabilities"], name="half_densenet_fcn")
        return cls(model=model)

    # -- CAMs -------------------------------------------------------------------------------------
    @property
    def cam_model(self) -> keras.Model:
        """keras.Model: images -> (CAM activations (B, h, w, K), probabilities (B, C))."""
        if getattr(self, "_cam_model", None) is None:
            self._cam_model = keras.Model(
                self.model.inputs,
                [self.model.get_layer("conv_aux").output, self.model.get_layer("probabilities").output],
            )
        return self._cam_model

    @property
    def cam_shape(self) -> tuple[int, int]:
        return tuple(int(d) for d in self.model.get_layer("conv_aux").output.shape[1:3])

    def maps_fn(self, images: tf.Tensor, classes: tf.Tensor) -> dict[str, tf.Tensor]:
        """Traceable core: images (B, H, W, C) float32 [0, 1], classes (B, k) int32 (-1 = predicted).

        Returns ``{"probabilities": (B, C), "classes": (B, k), "cam": (B, k, h, w)}`` (raw CAM values).
        """
        acts, probs = self.cam_model(self._resize_in(images), training=False)
        predicted = tf.cast(tf.argmax(probs, -1), tf.int32)[:, None]
        classes = tf.where(classes < 0, predicted, classes)
        cam = ops.class_activation_maps(acts, self.cam_kernel, classes)
        return {"probabilities": probs, "classes": classes, "cam": cam}

    def generate_cams(
        self,
        x: Any,
        custom_class: Any = None,
        normalize: bool = False,
        batch_size: int | None = 64,
        as_tensor: bool = False,
    ):
        """Low-res CAM and probabilities in one forward pass.

        Returns:
            ``(cam, probabilities)``: cam (B, h, w) float32 ((B, k, h, w) for (B, k) targets), raw unless
            ``normalize``; probabilities (B, C).
        """
        (cam,), probs = self._maps(x, custom_class, ("cam",), normalize, batch_size)
        result = (cam, probs)
        return result if as_tensor else ops.to_numpy(result)

    def cam(self, x: Any, custom_class: Any = None, normalize: bool = False, **kwargs) -> np.ndarray:
        """Low-res CAM (B, h, w) at feature resolution (H/16 for the paper's network).

        Raw values by default (``dot(A_k, W[:, c])``, bias ignored, as in the original); ``normalize=True``
        min-max scales each map to [0, 1]. ``custom_class``: None (predicted), int, B ints or (B, k).
        """
        return self.generate_cams(x, custom_class, normalize=normalize, **kwargs)[0]

    def fit(self, train_data, validation_data=None, epochs: int = 1, **kwargs):
        """``keras.Model.fit`` on (images, labels) datasets; compiles with the paper's settings if needed.

        Labels may be int class indices (B,) or one-hot (B, C). Defaults: Adadelta(learning_rate=1.0),
        cross-entropy, accuracy and top-5 accuracy.
        """
        from hrcam.training.half import compile_half_model

        if not self.model.compiled:
            compile_half_model(self.model, train_data)
        if isinstance(train_data, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras would only warn
        return self.model.fit(train_data, validation_data=validation_data, epochs=epochs, **kwargs)
