"""HalfModel: the HR-CAM classifier (DenseNet-FCN encoder + GAP head) and its low-resolution CAM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.highres.base import CamModelBase
from hrcam.highres.compiling import classifier_compile_args, labels_are_one_hot
from hrcam.highres.densenet_fcn import DenseNetFCNConfig, build_encoder, config_of
from hrcam.highres.layers import LAYERS, add_cam_head
from hrcam.highres.preprocessing import APPLICATION_MODES, PixelPreprocessing, application_weights

__all__ = ["HalfModel", "PAPER_INPUT_SHAPE", "build_half_model"]

PAPER_INPUT_SHAPE = (224, 224, 3)  # the HR-CAM paper's images (its ImageNet animal subset at 224x224)


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
        weights = application_weights(weights)
        try:
            base = builder(include_top=False, weights=weights, input_shape=tuple(input_shape))
        except ValueError as e:
            if weights in (None, "imagenet"):
                raise
            raise ValueError(
                f"`weights` {weights!r} do not fit {apps[key]}(include_top=False): {e}"
            ) from None
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
    x = PixelPreprocessing(mode, name=LAYERS.preprocess)(inputs)
    features = base(x)
    if len(features.shape) != 4:
        raise ValueError(
            f"`backbone` must output a 4-D feature map (B, h, w, K), got shape {tuple(features.shape)}"
        )
    _, _, probs = add_cam_head(features, num_classes, cam_channels, 0.0)
    return keras.Model(inputs, probs, name=f"half_{base.name}")


@keras.saving.register_keras_serializable(package="hrcam")
class HalfModel(CamModelBase, keras.Model):
    """The HR-CAM classification network with a CAM head: a Functional ``keras.Model``.

    ``HalfModel(num_classes=10, input_shape=(64, 64, 3))`` builds the paper's DenseNet-FCN (sizes via
    ``config`` or keyword overrides such as ``num_blocks=3``); ``HalfModel()`` is the paper's own setting
    (398 ImageNet animal classes at 224x224). ``HalfModel(weights="best_weights.h5")`` loads the original
    HR-CAM code's Keras 2 weights file by layer name (:mod:`hrcam.highres.original_weights`; the class count
    read from the file, the network fed 0-255 pixels as the original was), or a ``.weights.h5`` of hrcam's.
    ``HalfModel(..., backbone="densenet121", weights="imagenet")`` puts the same CAM head on a
    ``keras.applications`` backbone (``weights``: None, "imagenet" or a local weights file, as
    keras.applications takes it), or on any ``keras.Model`` feature extractor;
    ``HalfModel(model=keras_model)`` wraps a Keras model with hrcam's CAM head layers.

    As a Keras model it takes (B, H, W, C) float32 pixels in [0, 1] and returns probabilities
    (B, num_classes); ``save`` writes a ``.keras`` file that ``keras.saving.load_model`` loads as a
    HalfModel. hrcam's own API on top: ``predict`` gives class indices (B,) (Keras' probabilities:
    ``predict_proba`` or ``hm.model.predict``), ``cam``/``generate_cams`` the CAMs. :attr:`model` is the
    plain Functional view (same layers). Layers ``conv_aux`` (CAM activations (B, h, w, K)), ``gap``,
    ``logits`` (Dense (K, C)) and ``probabilities`` are found by name (:data:`hrcam.highres.LAYERS`).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        input_shape: tuple[int, int, int] | None = None,
        config: DenseNetFCNConfig | None = None,
        *,
        backbone: str | keras.Model | None = None,
        weights: str | None = None,
        preprocessing: str | None = None,
        model: keras.Model | None = None,
        name: str | None = None,
        **config_overrides: Any,
    ):
        if model is not None:
            graph = self._classifier_graph(model)
            config = config or config_of(graph)
        else:
            graph, config = self._build(
                num_classes, input_shape, config, backbone, weights, preprocessing, config_overrides
            )
        self._init_graph(graph, name)
        self._set_untracked("config", config)

    @staticmethod
    def _build(num_classes, input_shape, config, backbone, weights, preprocessing, config_overrides):
        from hrcam.highres import original_weights as ow

        keras2 = backbone is None and weights is not None and ow.check_weights_file(weights)
        if num_classes is None:  # the paper's class count, or the original weights file's
            num_classes = (ow.file_num_classes(weights) if keras2 else None) or ow.ORIGINAL_NUM_CLASSES
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}")
        input_shape = tuple(input_shape) if input_shape is not None else PAPER_INPUT_SHAPE
        if config is None:
            if keras2:  # the original code fed raw 0-255 pixels to the network its weights come from
                config_overrides = {"pixel_scaling": "raw255", **config_overrides}
            config = DenseNetFCNConfig(**config_overrides)
        elif config_overrides:
            raise ValueError(
                f"pass either `config` or keyword overrides, not both: {sorted(config_overrides)}"
            )
        if backbone is None:
            graph = build_half_model(int(num_classes), input_shape, config)
            if weights is not None:
                ow.load_weights_file(graph, weights, config.num_blocks)
            return graph, config
        graph = _build_backbone_model(
            int(num_classes), input_shape, backbone, weights, config.cam_channels, preprocessing
        )
        return graph, config

    @staticmethod
    def _classifier_graph(model: keras.Model) -> keras.Model:
        """The plain graph images -> probabilities of ``model`` (a FullModel graph gives its classifier)."""
        if isinstance(model, CamModelBase):
            model = model.model
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")
        names = {layer.name for layer in model.layers}
        missing = set(LAYERS.cam_head) - names
        if missing:
            raise ValueError(
                f"the Keras model has no layer(s) {sorted(missing)}; an hrcam model needs conv_aux -> gap -> "
                "logits -> probabilities (build it with HalfModel(...))"
            )
        if isinstance(model.output, dict):
            model = keras.Model(model.inputs[0], model.output[LAYERS.probabilities], name="half_densenet_fcn")
        return model

    @classmethod
    def load(cls, path: str | Path) -> HalfModel:
        """Load a ``.keras`` file (this release's or an earlier one's); a FullModel file gives its classifier.

        Goes through :func:`hrcam.highres.load_model`. Raises FileNotFoundError, or ValueError when the
        file holds a Keras model without hrcam's CAM head.
        """
        from hrcam.highres.loading import load_model

        model = load_model(path)
        if isinstance(model, cls):
            return model
        half = getattr(model, "half_model", None)
        if half is not None:
            return half
        return cls(model=model)  # raises ValueError naming the missing layers

    # -- CAMs -------------------------------------------------------------------------------------
    def _cam_outputs(self) -> list:
        """``cam_model``'s outputs: CAM activations (B, h, w, K), probabilities (B, C)."""
        return [self.model.get_layer(LAYERS.cam_features).output, self.model.output]

    def maps_fn(self, images: tf.Tensor, classes: tf.Tensor) -> dict[str, tf.Tensor]:
        """Traceable core: images (B, H, W, C) float32 [0, 1], classes (B, k) int32 (-1 = predicted).

        Returns ``{"probabilities": (B, C), "classes": (B, k), "cam": (B, k, h, w)}`` (raw CAM values).
        """
        acts, probs = self.cam_model(self._resize_in(images), training=False)
        classes = self._select(probs, classes)
        cam = ops.class_activation_maps(acts, self.cam_kernel, classes)
        return {"probabilities": probs, "classes": classes, "cam": cam}

    _MAP_KEYS = ("cam",)

    def cam(self, x: Any, custom_class: Any = None, normalize: bool = True, **kwargs) -> np.ndarray:
        """Low-res CAM (B, h, w) float32 at feature resolution (H/16 for the paper's network).

        Min-max scaled to [0, 1] per map by default (DESIGN's convention, the same as
        ``FullModel.low_res_cam``); ``normalize=False`` gives the raw values ``dot(A_k, W[:, c])``.
        ``custom_class``: None (predicted), int, B ints or (B, k).
        """
        return self.generate_cams(x, custom_class, normalize=normalize, **kwargs)[0]

    # -- training ----------------------------------------------------------------------------------
    def compile(self, optimizer: Any = "auto", loss: Any = "auto", metrics: Any = "auto", **kwargs) -> None:
        """``keras.Model.compile`` with the paper's defaults for ``"auto"`` arguments.

        Defaults: Adadelta(learning_rate=1.0), sparse cross-entropy (``one_hot=True``: categorical),
        accuracy and top-5 accuracy. ``learning_rate`` (with an optimizer name) and ``one_hot`` are
        accepted as keywords.
        """
        one_hot = bool(kwargs.pop("one_hot", False))
        learning_rate = kwargs.pop("learning_rate", 1.0)
        defaults = classifier_compile_args(
            self.num_classes, one_hot, "adadelta" if optimizer == "auto" else optimizer, learning_rate
        )
        super().compile(
            optimizer=defaults["optimizer"],
            loss=defaults["loss"] if loss == "auto" else loss,
            metrics=defaults["metrics"] if metrics == "auto" else metrics,
            **kwargs,
        )

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Re-compile from a saved ``compile_config`` (``keras.saving.load_model(..., compile=True)``)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, validation_data=None, epochs: int = 1, **kwargs):
        """``keras.Model.fit`` on (images, labels) datasets; compiles with the paper's settings if needed.

        Labels may be int class indices (B,) or one-hot (B, C) (read from a ``tf.data.Dataset``).
        """
        if not self.compiled:
            self.compile(one_hot=labels_are_one_hot(x))
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras would only warn
        return super().fit(x, y, validation_data=validation_data, epochs=epochs, **kwargs)
