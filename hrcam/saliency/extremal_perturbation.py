"""Extremal Perturbations (Fong, Patrick & Vedaldi 2019): smooth masks of fixed area, optimised per image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.ops import resize_maps
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.perturbation import (
    PERTURBATIONS,
    RowScores,
    adam_step,
    check_number,
    perturbed,
    rows_of,
    scaled,
)

__all__ = ["ExtremalPerturbation", "smooth_masks", "area_penalty", "VARIANTS"]

VARIANTS = ("preserve", "delete", "dual")


def smooth_masks(params: tf.Tensor, size: Sequence[int], sigma: float, temperature: float = 0.1) -> tf.Tensor:
    """Smooth masks (n, H, W) in [0, 1] from parameters (n, gh, gw) in [0, 1] on a grid of ``step`` pixels.

    Each grid point takes a soft maximum (softmax-weighted mean at ``temperature``) of its neighbours'
    parameters times a Gaussian of their distance (``sigma`` in grid steps, neighbours within 2 sigma); the
    result is up-sampled bilinearly to ``size``: the smooth max-convolution of Fong et al.
    """
    r = max(1, math.ceil(2.0 * sigma))
    offsets = np.arange(-r, r + 1)
    dist2 = offsets[:, None] ** 2 + offsets[None] ** 2
    kernel = tf.constant(np.exp(-dist2 / (2.0 * sigma**2)).reshape(-1), tf.float32)
    patches = tf.image.extract_patches(
        params[..., None], sizes=[1, 2 * r + 1, 2 * r + 1, 1], strides=[1] * 4, rates=[1] * 4, padding="SAME"
    )  # (n, gh, gw, (2r + 1)^2), zeros outside
    z = patches * kernel
    grid = tf.reduce_sum(z * tf.nn.softmax(z / temperature, axis=-1), axis=-1)
    return resize_maps(grid, size)


def area_penalty(masks: tf.Tensor, areas: tf.Tensor) -> tf.Tensor:
    """(n,) ``mean((sort(m) - r_a)^2)`` with ``r_a`` = (1 - a) N zeros then a N ones (Fong et al.'s area
    constraint as a ranking loss); masks (n, H, W), areas (n,) fractions."""
    flat = tf.sort(tf.reshape(masks, [tf.shape(masks)[0], -1]), axis=-1)
    n = tf.shape(flat)[1]
    ones = tf.cast(tf.round(areas * tf.cast(n, tf.float32)), tf.int32)
    ref = tf.cast(tf.range(n)[None] >= (n - ones)[:, None], tf.float32)
    return tf.reduce_mean(tf.square(flat - ref), axis=-1)


class ExtremalPerturbation(RowScores, SaliencyMethod):
    """Extremal perturbations: for each area a, the smooth mask m of area a that maximises the class score of
    ``m * x + (1 - m) * x_p`` (``variant="preserve"``; ``"delete"``: minimises it with the mask removing,
    ``"dual"``: both), with ``x_p`` the image blurred (``perturbation="blur"``, ``max_blur`` px) or black
    (``"fade"``). The area is a penalty ``area_weight * mean((sort(m) - r_a)^2)`` (a ranking loss: at the
    optimum exactly a fraction a of the mask is 1), its weight growing geometrically from
    ``area_weight / 1000`` to ``area_weight`` over the iterations, so that the score places the mask before
    the area constraint tightens. Masks come from :func:`smooth_masks` over parameters on a grid of ``step``
    pixels, optimised by ``iterations`` Adam steps (``learning_rate``) and kept in [0, 1].
    The map is the sum of the masks over ``areas`` (several areas give a graded map).

    Batched: every (image, class, area) is one row of one batch; the whole optimisation is one
    ``tf.while_loop`` in the compiled call, ``iterations`` forward and backward passes of the batch (twice
    for ``"dual"``). Scores are pre-softmax (``use_logits``).

    Args:
        **kwargs: the base's options (``batch_size``, ``normalize``, ``use_logits``, ...).
        areas: mask areas as fractions of the image (TorchRay's default 0.1).
        iterations: optimisation steps (TorchRay: 800). learning_rate: Adam's (the parameters are in [0, 1]).
        step, sigma: the parameter grid's spacing and the smoothing, in pixels (``None``: 7 and 21 at 224 px,
            scaled to the input). max_blur: the blur of ``x_p`` in pixels (``None``: 20 at 224 px, scaled).
        area_weight: the area penalty's weight (300).
        variant: ``"preserve"``, ``"delete"`` or ``"dual"``. perturbation: ``"blur"`` or ``"fade"``.
    """

    name = "ExtremalPerturbation"
    options = {"areas": (0.1,), "iterations": 800, "learning_rate": 0.05, "step": None, "sigma": None,
               "max_blur": None, "area_weight": 300.0, "variant": "preserve",
               "perturbation": "blur"}  # fmt: skip

    def _setup(self, layer: Any) -> None:
        if self.mode != "2D" or self._input_shape is None or None in self._input_shape[1:3]:
            raise ValueError("ExtremalPerturbation needs a model with a fixed 2D input size (mode='2D')")
        areas = (self.areas,) if isinstance(self.areas, (int, float)) else tuple(self.areas)
        if not areas:
            raise ValueError("`areas` must hold at least one fraction in (0, 1]")
        self.areas = tuple(check_number(a, "areas[]", 0.0, 1.0) for a in areas)
        self.samples_per_image = len(self.areas) * (2 if self.variant == "dual" else 1)
        self.iterations = check_positive_int(self.iterations, "iterations")
        self.learning_rate = check_number(self.learning_rate, "learning_rate")
        self.area_weight = check_number(self.area_weight, "area_weight", low_open=False)
        h, w = (int(s) for s in self._input_shape[1:3])
        self.step = int(round(scaled(self.step, 7.0, max(h, w), "step"))) or 1
        self.sigma = scaled(self.sigma, 21.0, max(h, w), "sigma")
        self.max_blur = scaled(self.max_blur, 20.0, max(h, w), "max_blur")
        if self.variant not in VARIANTS:
            raise ValueError(f"`variant` must be one of {VARIANTS}, got {self.variant!r}")
        if self.perturbation not in PERTURBATIONS:
            raise ValueError(f"`perturbation` must be one of {PERTURBATIONS}, got {self.perturbation!r}")
        self.grid = (math.ceil(h / self.step), math.ceil(w / self.step))

    def masks_of(self, params: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
        """(n, H, W) masks of (n, gh, gw) parameters."""
        return smooth_masks(params, size, self.sigma / self.step)

    def _energy(self, params, rows, base, row_classes, areas, size, weight):
        m = self.masks_of(params, size)
        keep = m[..., None]
        energy = weight * area_penalty(m, areas)
        if self.variant in ("preserve", "dual"):
            energy -= self._row_scores(rows * keep + base * (1.0 - keep), row_classes)
        if self.variant in ("delete", "dual"):
            energy += self._row_scores(rows * (1.0 - keep) + base * keep, row_classes)
        return energy

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes)  # (b, k)
        n_areas, k = len(self.areas), classes.shape[1]
        size = [int(s) for s in x.shape[1:3]]
        rows, row_classes = rows_of(x, classes, n_areas)
        base, _ = rows_of(perturbed(x, self.perturbation, self.max_blur), classes, n_areas)
        areas = tf.tile(tf.constant(self.areas, tf.float32), [tf.shape(row_classes)[0] // n_areas])
        params = tf.fill(tf.concat([tf.shape(row_classes), self.grid], 0), 0.5)

        def body(t, p, m1, m2):
            # the area weight grows geometrically to area_weight: the score places the mask first
            progress = tf.cast(t + 1, tf.float32) / self.iterations
            weight = self.area_weight * tf.pow(1e-3, 1.0 - progress)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(p)
                energy = tf.reduce_sum(self._energy(p, rows, base, row_classes, areas, size, weight))
            grad = tape.gradient(energy, p, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            p, m1, m2 = adam_step(p, grad, m1, m2, tf.cast(t + 1, tf.float32), self.learning_rate)
            return t + 1, tf.clip_by_value(p, 0.0, 1.0), m1, m2

        zeros = tf.zeros_like(params)
        _, params, _, _ = tf.while_loop(
            lambda t, *_: t < self.iterations, body, (tf.constant(0), params, zeros, zeros)
        )
        masks = self.masks_of(params, size)  # (b * k * A, H, W)
        masks = tf.reshape(masks, tf.concat([tf.shape(x)[:1], [k, n_areas], size], 0))
        return preds, tf.reduce_sum(masks, axis=2)
