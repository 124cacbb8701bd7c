"""The CASM masker: a decoder over a classifier's multi-scale features (Zolna et al., [casme:archs.py]).

Each stage feature (shallow to deep) goes through a 1x1 convolution to ``channels`` (no bias) + BN + ReLU
(the first one unchanged when ``passthrough_first``, as the original's max-pool output), is resized
bilinearly (half-pixel centres, torch's ``align_corners=False``) to the finest stage, and the stages are
concatenated; a 3x3 convolution to one channel and a sigmoid give the mask, up-sampled (``nearest`` by
default) to the input size. The decoder sees **stopped-gradient** features (:class:`StopGradient`), so a
masker loss never trains the classifier through its features.

:class:`CasmMasker` is a registered Functional ``keras.Model``: images (B, H, W, C) in [0, 1] ->
``{"logits": (B, K), "mask": (B, H, W, 1)}``, sharing the classifier's layers; it saves and loads with
``keras.saving`` (``model.save("m.keras")``, :func:`load_masker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.casm.resnet import RESNET_STAGES
from hrcam.highres.layers import LAYERS
from hrcam.highres.loading import classifier_of
from hrcam.saliency._keras_compat import keras_history

__all__ = ["StopGradient", "CasmDecoder", "CasmMasker", "feature_preset", "load_masker"]


@keras.saving.register_keras_serializable(package="hrcam")
class StopGradient(keras.layers.Layer):
    """Identity in the forward pass, no gradient backwards (the original's ``.detach()``)."""

    def call(self, x):
        return tf.stop_gradient(x)


@keras.saving.register_keras_serializable(package="hrcam")
class CasmDecoder(keras.layers.Layer):
    """CASM's ``Decoder``: stage features (a list, shallow to deep) -> one mask (B, H, W, 1) in [0, 1].

    Args:
        num_stages: how many feature maps the call receives.
        output_size: (H, W) of the mask (the classifier's input size).
        channels: 1x1 convolution width per stage (64 in the original).
        passthrough_first: feed the first stage unchanged (the original's max-pool output).
        upsample: ``nearest`` (the original's default) or ``bilinear`` from the finest stage to the input.
    """

    def __init__(
        self,
        num_stages: int,
        output_size: tuple[int, int],
        channels: int = 64,
        passthrough_first: bool = False,
        upsample: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_stages, int) or num_stages < 1:
            raise ValueError(f"`num_stages` must be a positive int, got {num_stages!r}")
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"`upsample` must be 'nearest' or 'bilinear', got {upsample!r}")
        self.num_stages, self.channels = num_stages, int(channels)
        self.output_size = tuple(int(s) for s in output_size)
        self.passthrough_first, self.upsample = bool(passthrough_first), upsample
        init = keras.initializers.VarianceScaling(
            2.0, "fan_out", "untruncated_normal"
        )  # N(0, sqrt(2/(k*k*out)))
        self.reducers = []
        for i in range(num_stages):
            if i == 0 and passthrough_first:
                self.reducers.append(None)
                continue
            self.reducers.append(
                (
                    keras.layers.Conv2D(
                        channels, 1, use_bias=False, kernel_initializer=init, name=f"k{i}_conv"
                    ),
                    keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"k{i}_bn"),
                )
            )
        self.head = keras.layers.Conv2D(1, 3, padding="same", kernel_initializer=init, name="mask_conv")

    def build(self, input_shape):
        shapes = list(input_shape)
        if len(shapes) != self.num_stages:
            raise ValueError(f"CasmDecoder expects {self.num_stages} feature maps, got {len(shapes)}")
        total = 0
        for red, shape in zip(self.reducers, shapes):
            if red is None:
                total += int(shape[-1])
                continue
            red[0].build(shape)
            red[1].build(tuple(shape[:-1]) + (self.channels,))
            total += self.channels
        self.head.build((None, None, None, total))
        self.built = True

    def call(self, features, training=None):
        features = list(features)
        size = max((tuple(f.shape[1:3]) for f in features), key=lambda s: s[0] * s[1])
        stages = []
        for red, f in zip(self.reducers, features):
            k = f if red is None else tf.nn.relu(red[1](red[0](f), training=training))
            if tuple(k.shape[1:3]) != size:
                k = tf.image.resize(k, size, method="bilinear")
            stages.append(k)
        mask = tf.sigmoid(self.head(tf.concat(stages, axis=-1)))
        if tuple(mask.shape[1:3]) != self.output_size:
            mask = tf.image.resize(mask, self.output_size, method=self.upsample)
        return mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], *self.output_size, 1)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "num_stages": self.num_stages,
            "output_size": list(self.output_size),
            "channels": self.channels,
            "passthrough_first": self.passthrough_first,
            "upsample": self.upsample,
        }


def feature_preset(classifier: keras.Model) -> tuple[list[str], str, bool]:
    """``(features, logits_layer, passthrough_first)`` for hrcam's DenseNet-FCN or a torchvision-layout
    ResNet (:mod:`hrcam.casm.resnet`); ValueError for other models (name their stage layers instead)."""
    from hrcam.highres.densenet_fcn import config_of

    model = classifier_of(classifier)
    names = {layer.name for layer in model.layers}
    dense = config_of(model)
    if dense is not None:
        last = keras_history(model.get_layer(LAYERS.cam_features).input)[0].name  # the CAM-level block
        return [f"tr{i}_pool" for i in range(dense.num_blocks - 1)] + [last], LAYERS.logits, False
    if set(RESNET_STAGES) <= names and "fc" in names:
        return list(RESNET_STAGES), "fc", True
    raise ValueError(
        "no CASM feature preset for this classifier (neither hrcam's DenseNet-FCN nor a torchvision-layout "
        "ResNet): list its stage layers in masker.features and its logits layer in masker.logits_layer"
    )


def _layer_output(model: keras.Model, name: str, what: str):
    try:
        return model.get_layer(name).output
    except ValueError:
        known = [layer.name for layer in model.layers]
        raise ValueError(
            f"{what} {name!r} is not a layer of the classifier {model.name!r}; "
            f"it has {len(known)} layers, e.g. {known[-12:]}"
        ) from None


@keras.saving.register_keras_serializable(package="hrcam")
class CasmMasker(keras.Model):
    """A CASM masker over a classifier: images -> ``{"logits", "mask"}`` (see the module docstring).

    ``CasmMasker(classifier)`` uses :func:`feature_preset`; ``CasmMasker(classifier, features=[...],
    logits_layer="...")`` any Keras classifier whose stage outputs are named layers.
    """

    def __init__(
        self,
        classifier: keras.Model | None = None,
        features: list[str] | None = None,
        logits_layer: str | None = None,
        channels: int = 64,
        passthrough_first: bool | None = None,
        upsample: str = "nearest",
        fill: float = 0.5,
        model: keras.Model | None = None,
        name: str = "casm_masker",
        **kwargs: Any,
    ):
        if model is None:
            if classifier is None:
                raise TypeError("CasmMasker needs a `classifier` (a keras.Model)")
            if not isinstance(classifier, keras.Model):
                raise TypeError(f"`classifier` must be a keras.Model, got {type(classifier).__name__}")
            base = classifier_of(classifier)
            if features is None or logits_layer is None or passthrough_first is None:
                pf, pl, pp = feature_preset(base)
                features = pf if features is None else features
                logits_layer = pl if logits_layer is None else logits_layer
                passthrough_first = pp if passthrough_first is None else passthrough_first
            if not features:
                raise ValueError("`features` must name at least one stage layer")
            logits = _layer_output(base, logits_layer, "logits_layer")
            feats = [_layer_output(base, f, "feature layer") for f in features]
            stopped = [StopGradient(name=f"stop_{i}")(f) for i, f in enumerate(feats)]
            size = tuple(int(s) for s in base.inputs[0].shape[1:3])
            decoder = CasmDecoder(
                len(feats), size, channels, bool(passthrough_first), upsample, name="decoder"
            )
            model = keras.Model(base.inputs[0], {"logits": logits, "mask": decoder(stopped)}, name=name)
        super().__init__(inputs=model.inputs[0], outputs=model.output, name=name, **kwargs)
        object.__setattr__(self, "_graph", model)
        self.features, self.logits_layer = list(features or []), logits_layer
        self.fill = float(fill)

    @property
    def decoder(self) -> CasmDecoder:
        return self._graph.get_layer("decoder")

    @property
    def classifier(self) -> keras.Model:
        """images -> logits over the shared classifier layers (built once)."""
        if getattr(self, "_classifier", None) is None:
            object.__setattr__(
                self, "_classifier", keras.Model(self._graph.inputs[0], self._graph.output["logits"])
            )
        return self._classifier

    @property
    def encoder(self) -> keras.Model:
        """images -> [logits, *stage features] (what the training step needs from one forward pass)."""
        if getattr(self, "_encoder", None) is None:
            outs = [self._graph.output["logits"]] + [self._graph.get_layer(f).output for f in self.features]
            object.__setattr__(self, "_encoder", keras.Model(self._graph.inputs[0], outs))
        return self._encoder

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self._graph.inputs[0].shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self._graph.output["logits"].shape[-1])

    def predict_masks(self, images: Any, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities (N, K), masks (N, H, W))`` as NumPy float32, masks in [0, 1]."""
        x = ops.as_images(images, name="images", channels=self.image_shape[-1])
        probs, masks = [], []
        for i in range(0, int(x.shape[0]), batch_size):
            out = self(x[i : i + batch_size], training=False)
            probs.append(tf.nn.softmax(out["logits"]).numpy())
            masks.append(out["mask"][..., 0].numpy())
        return np.concatenate(probs), np.concatenate(masks)

    def masks(self, images: Any, batch_size: int = 64) -> np.ndarray:
        """(N, H, W) float32 masks in [0, 1]."""
        return self.predict_masks(images, batch_size)[1]

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "graph": keras.saving.serialize_keras_object(self._graph),
            "features": self.features,
            "logits_layer": self.logits_layer,
            "fill": self.fill,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None):
        config = dict(config)
        graph = keras.saving.deserialize_keras_object(config.pop("graph"), custom_objects=custom_objects)
        return cls(model=graph, **config)


def load_masker(path: str | Path) -> CasmMasker:
    """A :class:`CasmMasker` from a ``.keras`` file (FileNotFoundError / ValueError naming the file)."""
    import hrcam.highres.full  # noqa: F401  (registers the HR-CAM classes a masker's classifier may use)
    from hrcam.io import load_keras_file

    model = load_keras_file(path, "masker file", compile=False)
    if not isinstance(model, CasmMasker):
        raise ValueError(f"{str(path)!r} holds a {type(model).__name__}, not a CASM masker (CasmMasker)")
    return model
