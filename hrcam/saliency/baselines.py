"""Baseline map sources that look at no pixel: a centred Gaussian prior and constant maps.

They are map sources like any other (same call, same result), so every tool that scores, compares or serves
maps takes them by name (``center``, ``zeros``, ``ones``): a method that does not beat ``center`` on a data
set has not shown that it localises anything there. The model still runs once per batch for the predictions
and the explained classes.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.ops import normalize_maps
from hrcam.saliency.base import SaliencyMethod

__all__ = ["Center", "Constant", "center_prior"]


def center_prior(size: tuple[int, int], sigma: float = 0.25) -> tf.Tensor:
    """(H, W) float32 centred isotropic Gaussian, ``sigma`` a fraction of each side, min-max scaled to
    [0, 1]."""
    h, w = int(size[0]), int(size[1])
    y = (tf.range(h, dtype=tf.float32) + 0.5 - h / 2) / (h * sigma)
    x = (tf.range(w, dtype=tf.float32) + 0.5 - w / 2) / (w * sigma)
    g = tf.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    return normalize_maps(g[None])[0]


class _Baseline(SaliencyMethod):
    """A map that does not depend on the image or the class; the model runs for the predictions only."""

    needs_gradients = False
    per_class = False

    def __init__(self, model: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(model, normalize=normalize, **kwargs)
        if self.mode != "2D":
            raise ValueError(f"{self.name} maps are 2D: `mode` must be '2D', got {self.mode!r}")

    def _map(self, size: tuple[int, int]) -> tf.Tensor:  # pragma: no cover - each baseline defines it
        raise NotImplementedError

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        size = (int(x.shape[1]), int(x.shape[2]))
        shape = tf.concat([tf.shape(classes), size], 0)
        return preds, tf.broadcast_to(self._map(size), shape)


class Center(_Baseline):
    """A centred isotropic Gaussian (``sigma``: a fraction of the image side, 0.25 by default), the same for
    every image and class: the prior that photographers centre their subject."""

    name = "Center"
    options = {"sigma": 0.25}

    def _setup(self, layer: Any) -> None:
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)) or self.sigma <= 0:
            raise ValueError(f"`sigma` must be a positive number (a fraction of the side), got {self.sigma}")

    def _map(self, size: tuple[int, int]) -> tf.Tensor:
        return center_prior(size, float(self.sigma))


class Constant(_Baseline):
    """The same value everywhere (``value`` in [0, 1]): ``zeros`` (nothing is salient) and ``ones`` (the whole
    image, the Explainer's trivial baselines)."""

    name = "Constant"
    options = {"value": 1.0}

    def _setup(self, layer: Any) -> None:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"`value` must be a number in [0, 1], got {value!r}")

    def _map(self, size: tuple[int, int]) -> tf.Tensor:
        return tf.fill(size, tf.constant(float(self.value), tf.float32))
