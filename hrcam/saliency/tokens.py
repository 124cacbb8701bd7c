"""Token models (vision transformers): token layers as feature maps, the layer for CAM methods, attention.

pytorch-grad-cam's ``reshape_transform`` idea, found automatically: a layer with a 3-D output
(B, N, C) whose N tokens are ``prefix`` extra tokens (a class token) followed by an h x w grid of patch tokens
is read as the (B, h, w, C) feature map of its patch tokens (:class:`TokenGrid`), so every CAM method runs on
it unchanged. The grid is inferred from N and the input's aspect ratio (N or N - 1 an h x w grid with
h / w = H / W), or given by the user (``token_grid=(h, w)``: the first N - h * w tokens are dropped).

:func:`find_token_layer` picks the layer for a token model: where the classifier pools its tokens (global
average / max pooling over them, as CAM and DeiT-style heads do), the pooled tokens; where it reads one token
(a class-token head), the input of the last attention layer (pytorch-grad-cam's advice for ViTs:
``blocks[-1].norm1``), since the patch tokens of the last block's output do not reach a class-token head.
:func:`attention_nodes` lists the ``keras.layers.MultiHeadAttention`` calls of a model, for attention rollout.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from hrcam.saliency.graph import graph_of, iter_nodes, producer

__all__ = ["TokenGrid", "token_grid", "check_token_grid", "input_hw", "find_token_layer", "attention_nodes"]

#: layers that pool a classifier's tokens over the token axis
_TOKEN_POOLING = (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalMaxPooling1D)


@dataclasses.dataclass(frozen=True)
class TokenGrid:
    """How N tokens map to a feature map: ``prefix`` leading tokens dropped, the rest an h x w grid
    (row-major, as a patch embedding flattens it)."""

    prefix: int
    height: int
    width: int

    def to_spatial(self, t: tf.Tensor) -> tf.Tensor:
        """(..., N, C) tokens -> (..., h, w, C) patch tokens."""
        t = t[..., self.prefix :, :]
        lead = tf.shape(t)[:-2]
        return tf.reshape(t, tf.concat([lead, [self.height, self.width, tf.shape(t)[-1]]], 0))


def check_token_grid(token_grid: Any) -> tuple[int, int] | None:
    """``None``, an int s (s x s) or ``(h, w)`` -> ``(h, w)``; else ValueError naming ``token_grid``."""
    if token_grid is None:
        return None
    grid = (token_grid, token_grid) if isinstance(token_grid, int) else token_grid
    ok = isinstance(grid, Sequence) and len(grid) == 2
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in grid):
        raise ValueError(
            f"`token_grid` must be None, an int or (height, width) ints >= 1, got {token_grid!r}"
        )
    return int(grid[0]), int(grid[1])


def token_grid(
    n_tokens: Any, hw: Sequence[Any] | None, grid: tuple[int, int] | None = None
) -> TokenGrid | None:
    """The :class:`TokenGrid` of N tokens, or ``None`` when N is no grid (not a token layer).

    Args:
        n_tokens: N (``None``: unknown, no grid).
        hw: the model's input (H, W) (the grid keeps its aspect ratio), or ``None`` (square grids).
        grid: ``(h, w)`` given by the user: the first N - h * w tokens are dropped.
    """
    if n_tokens is None:
        return None
    n = int(n_tokens)
    if grid is not None:
        return TokenGrid(n - grid[0] * grid[1], *grid) if grid[0] * grid[1] <= n else None
    h_in, w_in = (None, None) if hw is None else hw
    for prefix in (0, 1):  # pytorch-grad-cam's vit_reshape_transform drops one class token
        m = n - prefix
        if m < 4:
            continue
        if h_in and w_in:
            w = round(math.sqrt(m * w_in / h_in))
            h = m // w if w else 0
        else:
            h = w = math.isqrt(m)
        if h >= 2 and w >= 2 and h * w == m and (not (h_in and w_in) or h * w_in == w * h_in):
            return TokenGrid(prefix, h, w)
    return None


def input_hw(model: Any) -> tuple[Any, Any] | None:
    try:
        shape = tuple(model.inputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return (shape[1], shape[2]) if len(shape) == 4 else None


def _ref_of(model: Any, tensor: Any) -> tuple[str, Any] | None:
    """``(path, layer)`` of the leaf node producing ``tensor``."""
    found = None
    for path, node in iter_nodes(model):
        if graph_of(node.operation) is None and any(o is tensor for o in node.outputs):
            found = (path, node.operation)
    return found


def attention_nodes(model: Any) -> list[tuple[str, Any]]:
    """``(path, node)`` of every ``keras.layers.MultiHeadAttention`` call in execution order (nested models
    included)."""
    return [(p, n) for p, n in iter_nodes(model) if isinstance(n.operation, keras.layers.MultiHeadAttention)]


def find_token_layer(
    model: Any, grid: tuple[int, int] | None = None
) -> tuple[str, Any, Any, TokenGrid] | None:
    """The layer CAM methods use on a token model: ``(path, layer, tensor, TokenGrid)``, or ``None`` when the
    classifier's head does not read a (B, N, C) token tensor (a CNN).

    Walks back from the (B, classes) output through 2-D layers to the first token tensor (3-D with a grid).
    Pooled over its tokens (GlobalAveragePooling1D / GlobalMaxPooling1D): that tensor. Otherwise (a class
    token is read): the query input of the last MultiHeadAttention layer before it, if any.
    """
    if graph_of(model) is None or not model.outputs:
        return None
    hw = input_hw(model)
    outs = [t for t in model.outputs if len(t.shape) == 2]
    if not outs:
        return None
    t, consumer = outs[0], None
    for _ in range(10_000):  # a walk through the head, never through the whole network
        op, node, t = producer(t)
        ins = [i for i in node.input_tensors if i.shape is not None and len(i.shape) >= 2]
        tokens = [i for i in ins if len(i.shape) == 3 and token_grid(i.shape[1], hw, grid)]
        if tokens:
            t, consumer = tokens[0], op
            break
        if len(ins) != 1 or len(ins[0].shape) not in (2, 3):
            return None
        t = ins[0]
    if consumer is None:
        return None
    if not isinstance(consumer, _TOKEN_POOLING):
        attn = [(p, n) for p, n in attention_nodes(model) if n.input_tensors]
        if attn:
            query = attn[-1][1].input_tensors[0]
            if len(query.shape) == 3 and token_grid(query.shape[1], hw, grid):
                t = query
    ref = _ref_of(model, t)
    if ref is None:
        return None
    return ref[0], ref[1], t, token_grid(t.shape[1], hw, grid)
