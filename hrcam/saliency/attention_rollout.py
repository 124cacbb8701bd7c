"""Attention rollout (Abnar & Zuidema 2020): a transformer's attention multiplied through its layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from hrcam.saliency import _keras_compat as kc
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.layers import find_layer
from hrcam.saliency.tokens import TokenGrid, attention_nodes, input_hw, token_grid

__all__ = ["AttentionRollout"]

_FUSIONS = ("mean", "max", "min")


class AttentionRollout(SaliencyMethod):
    """Attention rollout: ``R = A'_L ... A'_1`` with ``A'_l = rownorm((fuse_heads(A_l) + I) / 2)``.

    ``A_l`` (B, heads, N, N) are the attention weights of each ``keras.layers.MultiHeadAttention`` call of the
    model (read from the graph when the model asks for them, ``return_attention_scores=True``; otherwise
    recomputed from the layer's inputs with the same layer), or the outputs of the layers named in
    ``layers=``. The map is the class token's row of ``R`` over the patch tokens when the tokens have a
    prefix (a class token), else the mean row (every token's attention to each patch token), on the patch
    grid (:mod:`hrcam.saliency.tokens`; ``token_grid=`` as for CAM methods). One forward pass, no gradients;
    class-agnostic (the same map for every class), as in the paper.

    Args:
        **kwargs: the base's options (``batch_size``, ``normalize``, ``upsample``, ``token_grid``, ...).
        head_fusion: how the heads' weights combine: ``"mean"`` (the paper), ``"max"`` or ``"min"``.
        discard_ratio: the fraction of each layer's lowest fused weights set to zero before the identity is
            added (jacobgil's vit-explain; 0 = none).
        layers: ``None`` (every MultiHeadAttention layer, in order) or layer names whose outputs are
            attention weights (B, [heads,] N, N) (e.g. the Softmax of a hand-written attention), or names
            of MultiHeadAttention layers.
    """

    name = "AttentionRollout"
    needs_gradients = False
    per_class = False
    options = {"head_fusion": "mean", "discard_ratio": 0.0, "layers": None}

    def _setup(self, layer: Any) -> None:
        if self.mode != "2D":
            raise ValueError("AttentionRollout supports mode='2D' only")
        if self.head_fusion not in _FUSIONS:
            raise ValueError(f"`head_fusion` must be one of {_FUSIONS}, got {self.head_fusion!r}")
        if not 0.0 <= float(self.discard_ratio) < 1.0:
            raise ValueError(f"`discard_ratio` must be in [0, 1), got {self.discard_ratio!r}")
        self.discard_ratio = float(self.discard_ratio)
        mha = attention_nodes(self.model)
        if self.layers is None:
            self._sources = [("node", node) for _, node in mha]
        elif isinstance(self.layers, str) or not isinstance(self.layers, Sequence) or not self.layers:
            raise ValueError(f"`layers` must be None or a non-empty list of layer names, got {self.layers!r}")
        else:
            by_name = {p: n for p, n in mha} | {n.operation.name: n for _, n in mha}
            self._sources = [
                ("node", by_name[n])
                if n in by_name
                else ("tensor", find_layer(self.model, n, rank=None).tensor)
                for n in self.layers
            ]
        if not self._sources:
            raise ValueError(
                f"model {self.model.name!r} has no keras.layers.MultiHeadAttention layer in its graph; "
                "attention rollout needs the attention weights: pass layers=[names of layers whose outputs "
                "are attention weights (batch, [heads,] N, N)]"
            )
        n_tokens = None
        for kind, src in self._sources:
            if kind == "node":  # (batch, heads, N_query, N_key) with N_query = N_key for self-attention
                q, v = src.input_tensors[0].shape, src.input_tensors[min(1, len(src.input_tensors) - 1)].shape
                shape = (None, None, q[1], v[1])
            else:
                shape = tuple(src.shape)
            if len(shape) not in (3, 4) or shape[-1] != shape[-2] or shape[-1] is None:
                raise ValueError(f"attention weights must be (batch, [heads,] N, N), got shape {shape}")
            if n_tokens is not None and shape[-1] != n_tokens:
                raise ValueError(
                    f"attention layers with {n_tokens} and {shape[-1]} tokens cannot be rolled out"
                )
            n_tokens = shape[-1]
        grid = token_grid(n_tokens, input_hw(self.model), self.token_grid)
        if grid is None:
            raise ValueError(
                f"the {n_tokens} tokens of model {self.model.name!r} form no patch grid for its input; pass "
                "token_grid=(h, w)"
            )
        self.grid: TokenGrid = grid

    def _captures(self) -> list[Any]:
        out = []
        for kind, src in self._sources:
            if kind == "tensor":
                out.append(src)
            elif len(src.outputs) == 2:  # the model asks for the scores: they are a node of its graph
                out.append(src.outputs[1])
            else:
                out.extend(src.input_tensors)
        return out

    def _weights(self, captured: dict[int, tf.Tensor]) -> list[tf.Tensor]:
        """(b, N, N) fused attention weights per layer, in order."""
        fused = []
        for kind, src in self._sources:
            if kind == "tensor":
                a = captured[id(src)]
            elif len(src.outputs) == 2:
                a = captured[id(src.outputs[1])]
            else:  # recompute with the same layer on the captured inputs
                args, kwargs = kc.fill_in_arguments(src, {id(t): captured[id(t)] for t in src.input_tensors})
                kwargs.update(return_attention_scores=True, training=False)
                _, a = src.operation(*args, **kwargs)
            a = tf.cast(a, tf.float32)
            if a.shape.rank == 4:
                a = {"mean": tf.reduce_mean, "max": tf.reduce_max, "min": tf.reduce_min}[self.head_fusion](
                    a, 1
                )
            fused.append(a)
        return fused

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        res = self._runner.run(x, capture=self._captures())
        preds = tf.cast(res.outputs[self._output_index], tf.float32)
        rollout = None
        for a in self._weights(res.captured):
            n = int(a.shape[-1])
            if self.discard_ratio > 0:
                flat = tf.reshape(a, [tf.shape(a)[0], -1])
                k = int(self.discard_ratio * n * n)
                low = tf.sort(flat, axis=-1)[:, k - 1 : k] if k > 0 else tf.fill([tf.shape(a)[0], 1], -1.0)
                a = tf.where(a > low[:, :, None], a, 0.0)
            a = (a + tf.eye(n)) / 2.0
            a = a / tf.reduce_sum(a, axis=-1, keepdims=True)
            rollout = a if rollout is None else tf.linalg.matmul(a, rollout)
        if self.grid.prefix:
            row = rollout[:, 0]  # the class token's attention to every token
        else:
            row = tf.reduce_mean(rollout, axis=1)
        maps = self.grid.to_spatial(row[..., None])[..., 0]  # (b, h, w)
        k = classes.shape[1]
        return preds, tf.repeat(maps[:, None], k, axis=1)
