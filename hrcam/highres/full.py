"""FullModel: the HalfModel plus the expansion network that gives high-resolution CAMs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.config import OBJECTIVES
from hrcam.highres.base import CamModelBase
from hrcam.highres.densenet_fcn import (
    DenseNetFCNConfig,
    build_encoder,
    build_expansion,
    build_resize_expansion,
    config_of,
)
from hrcam.highres.half import PAPER_INPUT_SHAPE, HalfModel
from hrcam.highres.layers import LAYERS, add_cam_head, high_res_layer

__all__ = ["FullModel", "OBJECTIVES", "EXPANSIONS", "check_weights", "folded_class_maps"]

#: the expansion path each objective trains: the paper's transposed convolutions, or resize + convolution
EXPANSIONS = {"reconstruct": "transpose", "align": "transpose", "distil": "resize"}


def build_full_model(
    num_classes: int, input_shape: tuple[int, int, int], config: DenseNetFCNConfig, objective: str
) -> keras.Model:
    """Inputs (B, H, W, C) in [0, 1] -> ``{"probabilities": (B, C), "reconstruction": (B, H, W, C)}``.

    With ``objective="align"`` the high-resolution activations are linear (not ReLU), so that their
    average-pooled values can match the low-resolution CAM activations, which are linear too. With
    ``objective="distil"`` the expansion path is :func:`~hrcam.highres.densenet_fcn.build_resize_expansion`.
    """
    config.check_input_shape(tuple(input_shape))
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    features, skips = build_encoder(inputs, config)
    _, _, probs = add_cam_head(features, num_classes, config.cam_channels, config.weight_decay)
    if EXPANSIONS[objective] == "resize":
        high = build_resize_expansion(features, skips, config)
    else:
        high = build_expansion(features, skips, config)
    if objective == "align":
        # Same layer name, linear activation: see the docstring.
        high_res_layer(keras.Model(inputs, high)).activation = keras.activations.get("linear")
    reconstruction = keras.layers.Conv2D(
        input_shape[-1],
        1,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=LAYERS.reconstruction,
    )(high)
    outputs = {LAYERS.probabilities: probs, LAYERS.reconstruction: reconstruction}
    return keras.Model(inputs, outputs, name="full_densenet_fcn")


def _objective_of(graph: keras.Model) -> str:
    """``distil`` for the resize expansion path; ``align`` when the paper's high-resolution activations are
    linear, else ``reconstruct``."""
    if "high_res_conv" in {layer.name for layer in graph.layers}:
        return "distil"
    return "align" if high_res_layer(graph).activation is keras.activations.linear else "reconstruct"


def check_weights(a: Any, b: Any, skip_batchnorm: bool = False) -> list[str]:
    """Names of the layers present in both models whose weights differ (empty list: all equal).

    ``a`` and ``b`` are HalfModel/FullModel or ``keras.Model`` objects; layers are matched by name.
    Batch-norm layers are compared too (their moving statistics included) unless ``skip_batchnorm``.
    """
    ma = getattr(a, "model", a)
    mb = getattr(b, "model", b)
    layers_b = {layer.name: layer for layer in mb.layers}
    differing = []
    for layer in ma.layers:
        other = layers_b.get(layer.name)
        if other is None or not layer.weights:
            continue
        if skip_batchnorm and isinstance(layer, keras.layers.BatchNormalization):
            continue
        wa, wb = layer.get_weights(), other.get_weights()
        if len(wa) != len(wb) or any(x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(wa, wb)):
            differing.append(layer.name)
    return differing


def folded_class_maps(
    pre: tf.Tensor, smooth_kernel: Any, dense_kernel: Any, classes: tf.Tensor, resize: Any = None
) -> tf.Tensor:
    """``smooth(resize(pre)) . W[:, c]`` with the class weights folded in before the resize (exact).

    ``smooth`` is a linear KxK convolution (stride 1, 'same' zero padding, no bias) and ``resize`` a
    per-channel linear resize, so for each kernel offset o: ``shift_o(resize(pre)) . (S_o W[:, c]) =
    shift_o(resize(pre . (S_o W[:, c])))``. The resize and the shifted sum then run on K*K maps per
    requested class instead of the K-channel activations, and the (K -> K) convolution at full
    resolution is gone.

    Args:
        pre: (B, h, w, K) activations before the resize.
        smooth_kernel: (kh, kw, K, K) kernel of the smoothing convolution (kh, kw odd).
        dense_kernel: (K, C) Dense kernel after the pooling.
        classes: (B, k) int class indices.
        resize: a per-channel linear resize layer (B, h, w, n) -> (B, H, W, n), or None (H, W = h, w).

    Returns:
        (B, k, H, W) float32 raw class maps.
    """
    pre = tf.cast(pre, tf.float32)
    smooth_kernel = tf.cast(smooth_kernel, tf.float32)
    kh, kw = int(smooth_kernel.shape[0]), int(smooth_kernel.shape[1])
    weights = tf.gather(tf.transpose(tf.cast(dense_kernel, tf.float32)), classes)  # (B, k, K)
    v = tf.einsum("yxio,bko->bkyxi", smooth_kernel, weights)  # (B, k, kh, kw, K)
    proj = tf.einsum("bhwi,bkyxi->bhwkyx", pre, v)  # (B, h, w, k, kh, kw)
    shape = tf.shape(proj)
    n = shape[3] * kh * kw
    proj = tf.reshape(proj, tf.stack([shape[0], shape[1], shape[2], n]))
    up = tf.cast(resize(proj), tf.float32) if resize is not None else proj
    up_shape = tf.shape(up)
    up = tf.reshape(up, tf.stack([up_shape[0], up_shape[1], up_shape[2], shape[3], kh * kw]))
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    padded = tf.pad(up, [[0, 0], [ph, ph], [pw, pw], [0, 0], [0, 0]])
    height, width = up_shape[1], up_shape[2]
    total = 0.0
    for i in range(kh):  # out[y, x] = sum_ij in[y + i - ph, x + j - pw] . (S_ij W[:, c]): cross-correlation
        for j in range(kw):
            total = total + padded[:, i : i + height, j : j + width, :, i * kw + j]
    return tf.transpose(total, [0, 3, 1, 2])


@keras.saving.register_keras_serializable(package="hrcam")
class FullModel(CamModelBase, keras.Model):
    """HR-CAM's full network: the HalfModel's classifier plus an expansion path to input resolution.

    A Functional ``keras.Model``: images (B, H, W, C) in [0, 1] -> ``{"probabilities": (B, C),
    "reconstruction": (B, H, W, C)}``; ``save`` writes a ``.keras`` file that ``keras.saving.load_model``
    loads as a FullModel. ``FullModel(half_model=hm)`` builds the expansion network on top of a trained
    HalfModel and copies its weights *by layer name*; :meth:`fit` trains the expansion path with the
    classifier frozen, so the FullModel's predictions equal the HalfModel's. Objectives:

    * ``"reconstruct"`` (the paper): reconstruct the input from the frozen features (MSE);
    * ``"align"``: reconstruct *and* make the average-pooled high-res activations equal to the low-res
      CAM activations, so that the high-res CAM is faithful to what the classifier uses.
    * ``"distil"`` (``expansion == "resize"``): the redesigned expansion path (resize + convolution, a
      linear smoothing convolution last) trained to distil the low-res CAM activations at strides S, S/2,
      S/4 plus an edge-aware smoothness term from the image (:mod:`hrcam.highres.stage2`).

    ``FullModel()`` builds the paper's own setting (398 ImageNet animal classes at 224x224), untrained;
    ``FullModel(weights="best_weights.h5")`` loads the original HR-CAM code's full-model weights (Keras 2
    HDF5, mapped by layer name: :mod:`hrcam.highres.original_weights`; the network is then fed 0-255 pixels,
    as the original was).

    High-res CAM of class c: ``A_high . W[:, c]`` with ``A_high`` the (B, H, W, K) ``tr_up_early``
    activations and ``W`` the classifier's Dense kernel.
    """

    def __init__(
        self,
        half_model: HalfModel | None = None,
        objective: str | None = None,
        *,
        num_classes: int | None = None,
        input_shape: tuple[int, int, int] | None = None,
        config: DenseNetFCNConfig | None = None,
        model: keras.Model | None = None,
        name: str | None = None,
        weights: str | None = None,
    ):
        if objective is not None and objective not in OBJECTIVES:
            raise ValueError(f"`objective` must be one of {OBJECTIVES}, got {objective!r}")
        if weights is not None and (model is not None or half_model is not None):
            raise ValueError("`weights` builds a new FullModel: pass it without `model` / `half_model`")
        if model is not None:
            graph = model.model if isinstance(model, CamModelBase) else model
            if not isinstance(graph.output, dict) or LAYERS.reconstruction not in graph.output:
                raise ValueError(
                    "`model` holds a classifier without an expansion path (no `reconstruction` output)"
                )
            objective = objective or _objective_of(graph)
            config = config or config_of(graph)
        else:
            objective = objective or "reconstruct"
            if half_model is not None:
                config, num_classes, input_shape = self._check_half(half_model)
            graph, config = self._build(num_classes, input_shape, config, objective, weights)
        self._init_graph(graph, name)
        self._set_untracked("config", config)
        self._set_untracked("objective", objective)
        self._set_untracked("half_layer_names", [])
        if model is None and half_model is not None:
            self.transfer_from(half_model)

    @staticmethod
    def _build(num_classes, input_shape, config, objective: str, weights):
        """The paper's configuration unless given: 398 classes (or the weights file's), 224x224; a Keras 2
        ``weights`` file (the original's) is loaded by layer name into a network fed 0-255 pixels."""
        from hrcam.highres import original_weights as ow

        keras2 = weights is not None and ow.check_weights_file(weights)
        if num_classes is None:
            num_classes = (ow.file_num_classes(weights) if keras2 else None) or ow.ORIGINAL_NUM_CLASSES
        if config is None:
            config = DenseNetFCNConfig(pixel_scaling="raw255") if keras2 else DenseNetFCNConfig()
        input_shape = tuple(input_shape) if input_shape is not None else PAPER_INPUT_SHAPE
        graph = build_full_model(int(num_classes), input_shape, config, objective)
        if weights is not None:
            if keras2 and "main_output" not in ow.read_keras2_weights(weights):
                raise ValueError(
                    f"{weights!r} holds a HalfModel's weights (no main_output layer): load it with "
                    "FullModel(half_model=HalfModel(weights=...)) and train the expansion path"
                )
            ow.load_weights_file(graph, weights)
        return graph, config

    @staticmethod
    def _check_half(half_model: HalfModel):
        if not isinstance(half_model, HalfModel):
            raise TypeError(f"`half_model` must be a HalfModel, got {type(half_model).__name__}")
        if half_model.config is None or any(
            isinstance(layer, keras.Model) for layer in half_model.model.layers
        ):
            raise ValueError(
                "FullModel needs a DenseNet-FCN HalfModel built by hrcam (its skip connections feed the "
                "expansion path); backbone HalfModels give low-res CAMs and Grad-CAM only"
            )
        return half_model.config, half_model.num_classes, half_model.input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "objective": self.objective}

    @property
    def expansion(self) -> str:
        """``"transpose"`` (the paper's expansion path) or ``"resize"`` (``objective="distil"``)."""
        return EXPANSIONS[self.objective]

    def transfer_from(self, half_model: HalfModel) -> list[str]:
        """Copy every layer's weights from ``half_model`` by name; returns the names copied."""
        copied = []
        own = {layer.name: layer for layer in self.model.layers}
        for layer in half_model.model.layers:
            if layer.weights and layer.name in own:
                own[layer.name].set_weights(layer.get_weights())
                copied.append(layer.name)
        if LAYERS.logits not in copied or LAYERS.cam_features not in copied:
            raise ValueError("weight transfer failed: the HalfModel has no 'conv_aux'/'logits' layers")
        self._set_untracked("half_layer_names", copied)
        return copied

    def freeze_classifier(self) -> list[str]:
        """Freeze every layer that belongs to the classification network (stage 2); returns the names."""
        names = {layer.name for layer in self.half_model.layers}
        for layer in self.model.layers:
            if layer.name in names:
                layer.trainable = False
        return sorted(names)

    @classmethod
    def load(cls, path: str | Path) -> FullModel:
        """Load a FullModel ``.keras`` file (this release's or an earlier one's), via
        :func:`hrcam.highres.load_model`; ValueError for a file without an expansion path."""
        from hrcam.highres.loading import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a classifier without an expansion path; use HalfModel.load")
        return model

    @property
    def half_model(self) -> HalfModel:
        """The classification network as a HalfModel sharing this model's layers (built once, cached)."""
        return self._view("half_model", lambda: HalfModel(model=self.model, name=f"{self.name}_classifier"))

    def _cam_outputs(self) -> list:
        """``cam_model``'s outputs: high-res activations (B, H, W, K), low-res activations (B, h, w, K),
        probabilities (B, C)."""
        return [
            high_res_layer(self.model).output,
            self.model.get_layer(LAYERS.cam_features).output,
            self.model.output[LAYERS.probabilities],
        ]

    def _folded_parts(self) -> tuple[keras.Model, Any, Any] | None:
        """For the resize expansion path (``distil``), whose last steps are linear (``high_res_conv`` ->
        bilinear ``high_res_resize`` -> ``tr_up_early`` smoothing convolution, no bias): (images -> [the
        ``high_res_conv`` output (B, h', w', K), low-res activations, probabilities], the resize layer or
        None, the smoothing layer). None when the graph is not of that form (the paper's path)."""
        if self.expansion != "resize":
            return None

        def build():
            smooth = high_res_layer(self.model)
            conv = self.model.get_layer("high_res_conv")
            names = {layer.name for layer in self.model.layers}
            resize = self.model.get_layer("high_res_resize") if "high_res_resize" in names else None
            kh, kw = smooth.kernel_size
            linear = (
                isinstance(smooth, keras.layers.Conv2D)
                and smooth.activation is keras.activations.linear
                and not smooth.use_bias
                and smooth.padding == "same"
                and tuple(smooth.strides) == (1, 1)
                and tuple(smooth.dilation_rate) == (1, 1)
                and kh % 2 == 1
                and kw % 2 == 1
                and smooth.input is (resize.output if resize is not None else conv.output)
                and (resize is None or resize.input is conv.output)
            )
            if not linear:
                return False
            outputs = [conv.output, *self._cam_outputs()[1:]]
            return keras.Model(self.model.inputs[0], outputs), resize, smooth

        parts = self._view("folded_model", build)
        return parts or None

    def maps_fn(self, images: tf.Tensor, classes: tf.Tensor) -> dict[str, tf.Tensor]:
        """Traceable core: images (B, H', W', C) float32 [0, 1], classes (B, k) int32 (-1 = predicted).

        Returns ``probabilities`` (B, C), ``classes`` (B, k), raw ``cam`` (B, k, h, w) and raw
        ``high_res_cam`` (B, k, H', W') at the request's resolution. On the resize expansion path the
        class weights are folded into its linear tail (:func:`folded_class_maps`) when that is cheaper
        (k * kh * kw < K): the same maps as ``cam_model``'s activations dotted with ``W[:, c]``, without the
        (B, H, W, K) smoothing convolution.
        """
        size = tf.shape(images)[1:3]
        kernel = self.cam_kernel
        folded = self._folded_parts()
        if folded is not None:  # the fold pays while k requested classes x kh*kw offsets < K channels
            kh, kw = folded[2].kernel_size
            k = classes.shape[-1]
            folded = folded if k is not None and k * kh * kw < int(kernel.shape[0]) else None
        if folded is not None:
            model, resize, smooth = folded
            pre, low, probs = model(self._resize_in(images), training=False)
            classes = self._select(probs, classes)
            high_cam = folded_class_maps(pre, smooth.kernel, kernel, classes, resize)
        else:
            high, low, probs = self.cam_model(self._resize_in(images), training=False)
            classes = self._select(probs, classes)
            high_cam = ops.class_activation_maps(high, kernel, classes)
        if images.shape[1] != high_cam.shape[2] or images.shape[2] != high_cam.shape[3]:
            high_cam = ops.resize_maps(high_cam, size)
        return {
            "probabilities": probs,
            "classes": classes,
            "cam": ops.class_activation_maps(low, kernel, classes),
            "high_res_cam": high_cam,
        }

    _MAP_KEYS = ("high_res_cam", "cam")

    def high_res_cam(self, x: Any, custom_class: Any = None, **kwargs) -> np.ndarray:
        """High-resolution CAM (B, H, W); see :meth:`generate_cams`."""
        return self.generate_cams(x, custom_class, **kwargs)[0]

    def low_res_cam(self, x: Any, custom_class: Any = None, **kwargs) -> np.ndarray:
        """Low-resolution CAM (B, h, w); see :meth:`generate_cams`."""
        return self.generate_cams(x, custom_class, **kwargs)[1]

    def fit(self, x=None, y=None, validation_data=None, epochs: int = 1, **kwargs):
        """Stage-2 training of the expansion path (classifier frozen) on (images, labels) datasets ``x``.

        The targets are the images themselves (and zeros for ``align``), so ``y`` must be None. See
        :func:`hrcam.highres.stage2.fit_full_model` (``optimizer``, ``learning_rate``, ``align_weight``).
        """
        from hrcam.highres.stage2 import fit_full_model

        if y is not None:
            raise ValueError("`y` must be None: stage 2 builds its targets from the images in `x`")
        return fit_full_model(self, x, validation_data=validation_data, epochs=epochs, **kwargs)
