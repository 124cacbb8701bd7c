"""RISE (Petsiuk et al. 2018): randomised input sampling; the class score of each randomly masked copy of
the image weights its mask."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.ops import resize_maps
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.checks import check_positive_int

__all__ = ["RISE", "rise_masks"]

_ACTIVATIONS = ("softmax", "sigmoid", "none")


def rise_masks(n: int, size: tuple[int, int], cells: int, p: float, seed: tf.Tensor) -> tf.Tensor:
    """(n, H, W) float32 RISE masks: a ``cells x cells`` grid of Bernoulli(p) cells, up-sampled bilinearly
    to ``(cells + 1) * cell`` with ``cell = ceil(H / cells)``, then cropped at a random shift in
    ``[0, cell)`` along each axis (torchray's ``rise``)."""
    h, w = size
    ch, cw = -(-h // cells), -(-w // cells)
    s_grid, s_dy, s_dx = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3))
    grid = tf.cast(tf.random.stateless_uniform([n, cells, cells, 1], s_grid) < p, tf.float32)
    up = resize_maps(grid[..., 0], [(cells + 1) * ch, (cells + 1) * cw])
    dy = tf.random.stateless_uniform([n], s_dy, 0, ch, dtype=tf.int32)
    dx = tf.random.stateless_uniform([n], s_dx, 0, cw, dtype=tf.int32)
    rows = dy[:, None] + tf.range(h)[None]
    cols = dx[:, None] + tf.range(w)[None]
    up = tf.gather(up, rows, axis=1, batch_dims=1)  # (n, h, W')
    return tf.gather(up, cols, axis=2, batch_dims=1)  # (n, h, w)


class RISE(SaliencyMethod):
    """RISE: ``S_c = sum_i f_c(x * M_i) M_i / (N p)`` over N random masks ``M_i`` (:func:`rise_masks`).

    Black box: forward passes only, no gradients. The masks are evaluated in chunks of ``chunk_size`` per
    image (one forward pass of ``images x chunk_size`` copies each, inside a ``tf.while_loop``), so memory
    stays bounded for any ``n_masks``; each compiled call takes ``batch_size // chunk_size`` images (at
    least one). The masks come from stateless random ops: the same ``seed`` gives the same maps.

    Args:
        **kwargs: the base's options (``batch_size``, ``normalize``, ``upsample``, ...).
        n_masks: N (torchray's default 8000; the original paper 4000 at 224 px).
        cells: the grid size (7).
        p: the probability of a cell being kept (0.5).
        chunk_size: masked copies per image in one forward pass.
        activation: the score that weights a mask: ``"softmax"`` of the logits (torchray, the default),
            ``"sigmoid"`` (multi-label classifiers) or ``"none"`` (the raw logits).
        seed: int (default 0: the same masks on every call) or ``None`` (new masks on every call).
    """

    name = "RISE"
    needs_gradients = False
    options = {"n_masks": 4000, "cells": 7, "p": 0.5, "chunk_size": 64, "activation": "softmax", "seed": 0}

    def _setup(self, layer: Any) -> None:
        self.n_masks = check_positive_int(self.n_masks, "n_masks")
        self.cells = check_positive_int(self.cells, "cells")
        self.chunk_size = self.samples_per_image = check_positive_int(self.chunk_size, "chunk_size")
        if not 0 < float(self.p) <= 1:
            raise ValueError(f"`p` must be in (0, 1], got {self.p!r}")
        self.p = float(self.p)
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if self.mode != "2D":
            raise ValueError("RISE supports mode='2D' only")

    def _scores(self, x: tf.Tensor) -> tf.Tensor:
        s = self._forward(x).scores
        if self.activation == "softmax":
            return tf.nn.softmax(s, axis=-1)
        return tf.sigmoid(s) if self.activation == "sigmoid" else s

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes)  # (b, k)
        h, w = int(x.shape[1]), int(x.shape[2])
        n, chunk = self.n_masks, min(self.chunk_size, self.n_masks)
        masks = rise_masks(n, (h, w), self.cells, self.p, seed)  # (n, h, w)
        b, k = tf.shape(x)[0], classes.shape[1]
        n_chunks = -(-n // chunk)
        masks = tf.pad(masks, [[0, n_chunks * chunk - n], [0, 0], [0, 0]])  # zero masks add nothing
        masks = tf.reshape(masks, [n_chunks, chunk, h, w])
        item = tf.shape(x)[1:]

        def body(i, total):
            m = masks[i]  # (chunk, h, w)
            copies = tf.reshape(x[:, None] * m[None, ..., None], tf.concat([[b * chunk], item], 0))
            scores = tf.reshape(self._scores(copies), tf.stack([b, chunk, -1]))  # (b, chunk, C)
            picked = tf.gather(scores, classes, axis=2, batch_dims=1)  # (b, chunk, k)
            return i + 1, total + tf.einsum("bck,chw->bkhw", picked, m)

        total = tf.zeros(tf.stack([b, k, h, w]), tf.float32)
        _, total = tf.while_loop(lambda i, _: i < n_chunks, body, (tf.constant(0), total))
        return preds, total / (n * self.p)
