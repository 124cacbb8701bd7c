"""A small vision transformer from standard Keras layers, for the token-model saliency sources and benchmarks.

    >>> from hrcam.models.vit import build_vit
    >>> model = build_vit(num_classes=3, input_shape=(32, 32, 3), patch_size=4, head="pooled")
    >>> hrcam.sources.get("gradcam", model)            # Grad-CAM on its tokens, layer found automatically
    >>> hrcam.sources.get("attention_rollout", model)

Only standard layers, so a saved file loads with plain ``keras.saving.load_model`` (no registered classes):
patches by a strided ``Conv2D``, positions by a 3x3 depthwise convolution on the patch grid (a conditional
position encoding, as CPVT's), tokens (B, h * w, dim); ``depth`` pre-norm blocks of
``keras.layers.MultiHeadAttention`` (called with ``return_attention_scores=True``, so the attention weights
are nodes of the graph) and a GELU MLP; a final LayerNorm; then the head:

* ``head="pooled"``: global average pooling over the tokens (DeiT-style GAP), then Dense logits: a CAM network
  over tokens (CAM and Grad-CAM agree on it);
* ``head="token"``: a class token in front of the patch tokens, read by the head (ViT-style). The token is
  made from the mean patch token by a Dense layer (a learned constant token would need a custom layer).

Logits then a Softmax (``probabilities``), as hrcam's other classifiers.
"""

from __future__ import annotations

import keras

from hrcam.highres.layers import LAYERS

__all__ = ["build_vit", "HEADS"]

HEADS = ("pooled", "token")


def build_vit(
    num_classes: int,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    patch_size: int = 4,
    dim: int = 32,
    depth: int = 2,
    heads: int = 4,
    mlp_ratio: int = 2,
    head: str = "pooled",
    name: str = "vit",
) -> keras.Model:
    """A randomly initialised ViT classifier: images (B, H, W, C) in [0, 1] -> probabilities (B, classes).

    Args:
        num_classes: C >= 1. input_shape: (H, W, channels), H and W multiples of ``patch_size``.
        patch_size: the side of a patch (the token grid is H / patch_size x W / patch_size).
        dim: token width (a multiple of ``heads``). depth: transformer blocks. heads: attention heads.
        mlp_ratio: the MLP's hidden width / dim.
        head: ``"pooled"`` (global average pooling of the tokens) or ``"token"`` (a class token); see the
            module docstring.

    Layer names: ``patch_embed``, ``tokens``, ``block{i}_norm1``, ``block{i}_attn``, ``block{i}_norm2``,
    ``block{i}_out``, ``norm`` (the final LayerNorm), then the head.

    Raises:
        ValueError: sizes that do not fit (the message names the argument).
    """
    h, w, channels = (int(v) for v in input_shape)
    for key, value in (("num_classes", num_classes), ("patch_size", patch_size), ("dim", dim),
                       ("depth", depth), ("heads", heads), ("mlp_ratio", mlp_ratio)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{key}` must be a positive int, got {value!r}")
    if h % patch_size or w % patch_size:
        raise ValueError(f"`input_shape` {input_shape} must be a multiple of `patch_size`={patch_size}")
    if dim % heads:
        raise ValueError(f"`dim`={dim} must be a multiple of `heads`={heads}")
    if head not in HEADS:
        raise ValueError(f"`head` must be one of {HEADS}, got {head!r}")
    layers = keras.layers
    n = (h // patch_size) * (w // patch_size)
    inputs = keras.Input((h, w, channels), name="images")
    x = layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embed")(inputs)
    x = layers.Add(name="patch_pos")([x, layers.DepthwiseConv2D(3, padding="same", name="pos_conv")(x)])
    x = layers.Reshape((n, dim), name="tokens")(x)
    if head == "token":
        cls = layers.Dense(dim, name="cls_token")(layers.GlobalAveragePooling1D(name="cls_pool")(x))
        x = layers.Concatenate(axis=1, name="with_cls")([layers.Reshape((1, dim), name="cls_seq")(cls), x])
    for i in range(depth):
        y = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm1")(x)
        y, _ = layers.MultiHeadAttention(heads, dim // heads, name=f"block{i}_attn")(
            y, y, return_attention_scores=True
        )
        x = layers.Add(name=f"block{i}_add")([x, y])
        y = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm2")(x)
        y = layers.Dense(dim * mlp_ratio, activation="gelu", name=f"block{i}_mlp1")(y)
        y = layers.Dense(dim, name=f"block{i}_mlp2")(y)
        x = layers.Add(name=f"block{i}_out")([x, y])
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    if head == "pooled":
        x = layers.GlobalAveragePooling1D(name=LAYERS.pool)(x)
    else:
        x = layers.Flatten(name="class_token")(layers.Cropping1D((0, n), name="class_token_seq")(x))
    logits = layers.Dense(num_classes, name=LAYERS.logits)(x)
    probs = layers.Softmax(name=LAYERS.probabilities, dtype="float32")(logits)
    return keras.Model(inputs, probs, name=name)
