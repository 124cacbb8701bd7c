"""DenseNet-FCN (Jégou et al., "The One Hundred Layers Tiramisu"), as configured by HR-CAM.

A functional builder with every layer that matters named, so that weights move between the
classification network (:class:`~hrcam.highres.HalfModel`) and the network with the expansion path
(:class:`~hrcam.highres.FullModel`) *by name*, never by index.

Paper configuration (the defaults): growth rate 16, 4 layers per dense block, 4 dense blocks plus a
bottleneck block, an early transition (stride-2 max pool right after the initial convolution), 48
initial filters, max-pool transitions without compression, transposed-convolution up-blocks with skip
connections. For a 224x224 input the CAM level is 14x14 (H/16) and the high-resolution level 224x224.

Layer names (``b`` = ``num_blocks``):

* ``preprocess`` (``Rescaling`` [0, 1] -> [-1, 1]; [0, 255] with ``pixel_scaling="raw255"``, the original
  code's input), ``initial_conv/bn/relu``
* ``tr_early_*`` (early transition), ``dense{i}_{j}_*`` dense blocks, ``tr{i}_*`` transitions down
* ``dense{b}_*`` the bottleneck block, ``tr_up0`` + ``skip0_concat`` + ``dense{b+1}_*`` the up-block to the
  CAM level, whose output tensor is ``cam_features`` (the concatenation of that block's new maps)
* expansion path (FullModel only): ``tr_up{u}``, ``skip{u}_concat``, ``dense{b+1+u}_*``, then
  ``tr_up_early`` (the high-resolution activations) when ``early_transition``.
"""

from __future__ import annotations

import keras
from keras import layers

from hrcam.config import DenseNetFCNConfig
from hrcam.highres.layers import LAYERS

__all__ = ["DenseNetFCNConfig", "config_of", "build_encoder", "build_expansion", "build_resize_expansion"]

_BN_EPS = 1.1e-5


def config_of(model: keras.Model) -> DenseNetFCNConfig | None:
    """The sizes of a DenseNet-FCN built by this module, recovered from its layer names (see the module
    docstring); None for any other model."""
    names = {layer.name for layer in model.layers}
    if "initial_conv" not in names or "dense0_0_conv" not in names:
        return None
    num_blocks = sum(1 for n in names if n.startswith("tr") and n.endswith("_pool") and n[2:-5].isdigit())
    reg = model.get_layer("initial_conv").kernel_regularizer
    pre = model.get_layer(LAYERS.preprocess) if LAYERS.preprocess in names else None
    dropout = model.get_layer("dense0_0_dropout").rate if "dense0_0_dropout" in names else 0.0
    return DenseNetFCNConfig(
        num_blocks=num_blocks,
        layers_per_block=sum(1 for n in names if n.startswith("dense0_") and n.endswith("_conv")),
        growth_rate=int(model.get_layer("dense0_0_conv").filters),
        initial_filters=int(model.get_layer("initial_conv").filters),
        early_transition="tr_early_pool" in names,
        weight_decay=float(reg.l2) if reg is not None else 0.0,
        cam_channels=int(model.get_layer(LAYERS.cam_features).filters),
        dropout=float(dropout),
        pixel_scaling="raw255" if float(getattr(pre, "scale", 2.0)) == 255.0 else "symmetric",
    )


def multilayer_layers(model: keras.Model) -> list[str]:
    """For a DenseNet-FCN classifier: the outputs of its last three encoder dense blocks, deepest first (the
    paper's ``dense3``, ``dense2``, ``dense1`` at strides 16, 8, 4), MultiLayerCAM's default layers.

    Raises:
        ValueError: ``model`` is not a DenseNet-FCN built by this module.
    """
    config = config_of(model)
    if config is None:
        raise ValueError(
            f"MultiLayerCAM needs `layers=[...]` (layer names) for {model.name!r}: not hrcam's DenseNet-FCN"
        )
    last = config.layers_per_block - 1
    blocks = [i for i in range(config.num_blocks - 1, config.num_blocks - 4, -1) if i >= 0]
    return [f"dense{i}_{last}_concat" for i in blocks]


def multilayer_defaults(model: keras.Model) -> dict[str, list[str]]:
    """``{"layers": multilayer_layers(model)}`` for a DenseNet-FCN, else ``{}`` (the source's defaults)."""
    return {"layers": multilayer_layers(model)} if config_of(model) is not None else {}


def _l2(config: DenseNetFCNConfig):
    return keras.regularizers.L2(config.weight_decay) if config.weight_decay else None


def _conv_block(x, config: DenseNetFCNConfig, prefix: str):
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=f"{prefix}_bn")(x)
    x = layers.Activation("relu", name=f"{prefix}_relu")(x)
    x = layers.Conv2D(
        config.growth_rate,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{prefix}_conv",
    )(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name=f"{prefix}_dropout")(x)
    return x


def _dense_block(x, config: DenseNetFCNConfig, index: int, return_new_only: bool):
    """``layers_per_block`` conv blocks, each concatenated onto the running tensor.

    Returns the running concatenation, or only the concatenation of the new maps
    (``layers_per_block * growth_rate`` channels) when ``return_new_only``.
    """
    new_maps = []
    for j in range(config.layers_per_block):
        out = _conv_block(x, config, f"dense{index}_{j}")
        new_maps.append(out)
        x = layers.Concatenate(name=f"dense{index}_{j}_concat")([x, out])
    if return_new_only:
        if len(new_maps) == 1:
            return new_maps[0]
        return layers.Concatenate(name=f"dense{index}_new")(new_maps)
    return x


def _transition_down(x, config: DenseNetFCNConfig, prefix: str):
    filters = x.shape[-1]
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=f"{prefix}_bn")(x)
    x = layers.Activation("relu", name=f"{prefix}_relu")(x)
    x = layers.Conv2D(
        filters,
        1,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=_l2(config),
        name=f"{prefix}_conv",
    )(x)
    return layers.MaxPooling2D(2, name=f"{prefix}_pool")(x)


def _up_conv(config: DenseNetFCNConfig, transpose: bool, filters: int, name: str):
    """3x3 ReLU convolution of an up-block: transposed with stride 2 (the paper's), or plain."""
    kwargs = {"strides": 2} if transpose else {}
    return (layers.Conv2DTranspose if transpose else layers.Conv2D)(
        filters,
        3,
        padding="same",
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=_l2(config),
        name=name,
        **kwargs,
    )


def _transition_up(x, filters: int, config: DenseNetFCNConfig, name: str):
    return _up_conv(config, True, filters, name)(x)


def build_encoder(inputs, config: DenseNetFCNConfig):
    """Encoder, bottleneck and the first up-block.

    Args:
        inputs: a Keras input tensor (B, H, W, C), float32 pixels in [0, 1].

    Returns:
        ``(cam_features, skips)``: the (B, H/s, W/s, layers_per_block*growth_rate) tensor at the CAM level
        (s = ``config.cam_stride``), and the list of skip tensors from shallow to deep (the early
        transition's input first when ``early_transition``).
    """
    if config.pixel_scaling == "raw255":  # the original code's raw 0-255 pixels (its trained weights)
        x = layers.Rescaling(255.0, offset=0.0, name=LAYERS.preprocess)(inputs)
    else:
        x = layers.Rescaling(2.0, offset=-1.0, name=LAYERS.preprocess)(inputs)
    x = layers.Conv2D(
        config.initial_filters,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=_l2(config),
        name="initial_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name="initial_bn")(x)
    x = layers.Activation("relu", name="initial_relu")(x)
    skips = []
    if config.early_transition:
        skips.append(x)
        x = _transition_down(x, config, "tr_early")
    for i in range(config.num_blocks):
        x = _dense_block(x, config, i, return_new_only=False)
        skips.append(x)
        x = _transition_down(x, config, f"tr{i}")
    b = config.num_blocks
    x = _dense_block(x, config, b, return_new_only=True)  # bottleneck
    up_filters = config.layers_per_block * config.growth_rate
    x = _transition_up(x, up_filters, config, "tr_up0")
    x = layers.Concatenate(name="skip0_concat")([x, skips[-1]])
    cam_features = _dense_block(x, config, b + 1, return_new_only=True)
    return cam_features, skips


def _up_blocks(cam_features, skips, config: DenseNetFCNConfig, up, last_block: bool):
    """Up-blocks from the CAM level through the remaining dense-block skips (deep -> shallow): ``up`` (x2),
    concatenation with the skip, a dense block (new maps only; the last one passes its whole concatenation,
    or is left out when not ``last_block``)."""
    b = config.num_blocks
    up_filters = config.layers_per_block * config.growth_rate
    x = cam_features
    # skips[-1] was used by the first up-block; the remaining dense-block skips go deep -> shallow.
    dense_skips = skips[int(config.early_transition) :][:-1][::-1]
    for u, skip in enumerate(dense_skips, start=1):
        x = up(x, up_filters, config, f"tr_up{u}")
        x = layers.Concatenate(name=f"skip{u}_concat")([x, skip])
        last = u == len(dense_skips)
        if not last or last_block:
            x = _dense_block(x, config, b + 1 + u, return_new_only=not last)
    return x


def build_expansion(cam_features, skips, config: DenseNetFCNConfig):
    """The expansion path from the CAM level back to input resolution.

    Returns:
        (B, H, W, cam_channels) high-resolution activations (named ``tr_up_early`` when
        ``early_transition``; otherwise a 1x1 convolution ``high_res_activations``).
    """
    x = _up_blocks(cam_features, skips, config, _transition_up, last_block=True)
    if config.early_transition:
        return _transition_up(x, config.cam_channels, config, LAYERS.high_res[0])
    return layers.Conv2D(
        config.cam_channels,
        1,
        padding="same",
        activation="relu",
        kernel_initializer="he_normal",
        name=LAYERS.high_res[1],
    )(x)


def _resize_up(x, filters: int, config: DenseNetFCNConfig, name: str):
    """x2 bilinear resize, then a 3x3 ReLU convolution (no transposed convolution: no checkerboard)."""
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_resize")(x)
    return _up_conv(config, False, filters, name)(x)


def _box_init(conv: keras.layers.Conv2D) -> None:
    """Start a KxK -> K smoothing convolution as a per-channel box blur (each channel its own mean)."""
    kernel = conv.kernel
    k = int(kernel.shape[-1])
    value = keras.ops.eye(k)[None, None] / float(kernel.shape[0] * kernel.shape[1])
    kernel.assign(keras.ops.broadcast_to(value, kernel.shape))


def build_resize_expansion(cam_features, skips, config: DenseNetFCNConfig):
    """The redesigned expansion path (``FullModel(objective="distil")``).

    Resize + convolution up-sampling (no transposed convolution), the paper's skips and dense blocks at the
    deeper levels, a linear 3x3 projection to the CAM channels at the shallowest skip (no dense block there:
    cost), a bilinear resize to input resolution and a linear 3x3 smoothing convolution (started as a box
    blur) named ``tr_up_early``: linear output channels, so ``A_high . W[:, c]`` keeps the CAM's meaning.
    """
    # no dense block at the shallowest skip (cost; appearance-only detail)
    x = _up_blocks(cam_features, skips, config, _resize_up, last_block=False)
    x = layers.Conv2D(
        config.cam_channels, 3, padding="same", kernel_initializer="he_normal", name="high_res_conv"
    )(x)
    factor = int(skips[0].shape[1]) // int(x.shape[1])  # skips[0] is at input resolution
    if factor > 1:
        x = layers.UpSampling2D(factor, interpolation="bilinear", name="high_res_resize")(x)
    smooth = layers.Conv2D(config.cam_channels, 3, padding="same", use_bias=False, name=LAYERS.high_res[0])
    x = smooth(x)
    _box_init(smooth)
    return x
