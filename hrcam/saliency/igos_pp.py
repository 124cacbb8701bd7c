"""iGOS++ (Khorram et al. 2021): a mask optimised for deletion and insertion at once along integrated
gradients."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.ops import resize_maps
from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.checks import check_positive_int
from hrcam.saliency.perturbation import PERTURBATIONS, RowScores, check_number, perturbed, rows_of, scaled

__all__ = ["IGOSPlusPlus"]


class IGOSPlusPlus(RowScores, SaliencyMethod):
    """iGOS++: a low-resolution mask S in [0, 1] (1 = salient), up-sampled bilinearly, minimising::

        E(S) = f_c(x (1 - S) + x_p S) - f_c(x S + x_p (1 - S)) + l1 * mean(S) + tv * mean(grad(S)^2)

    (deleting the salient region drops the class output, inserting it alone restores it; ``x_p`` the blurred
    image, or black with ``perturbation="fade"``, ``f_c`` the model's output: a probability for a softmax
    classifier, as in the paper). The descent direction of the two score terms is their integrated gradient
    (the mean gradient at ``a S`` for ``a = 1/n .. 1``, ``ig_steps`` points) as in I-GOS / iGOS++, the
    regularisers' plain gradient; the step is a backtracking line search: the ``line_steps`` step sizes
    ``learning_rate / 2^j`` are tried in one batch and the lowest energy wins (no step if none lowers it).
    Written from the papers' description, not ported: the bilateral TV of iGOS++ is a plain squared TV here.

    Batched: every (image, class) is one row; per iteration ``2 * ig_steps`` forward and backward passes and
    ``2 * line_steps`` forward passes of the rows, all in one ``tf.while_loop`` in the compiled call.

    Args:
        **kwargs: the base's options (``batch_size``, ``normalize``, ...).
        size: the mask's side (iGOS++: 28 at 224 px; capped by the image size).
        iterations: optimisation steps (15). ig_steps: integrated-gradient points (20).
        l1, tv: regulariser weights. learning_rate: the first step size tried (I-GOS: 1000).
        line_steps: step sizes tried per iteration. blur: the blur of ``x_p`` in pixels (``None``: 15 at 224
            px, scaled). perturbation: ``"blur"`` or ``"fade"``.
    """

    name = "IGOSPlusPlus"
    options = {"size": 28, "iterations": 15, "ig_steps": 20, "l1": 1.0, "tv": 2.0, "learning_rate": 1000.0,
               "line_steps": 12, "blur": None, "perturbation": "blur"}  # fmt: skip

    def _setup(self, layer: Any) -> None:
        if self.mode != "2D" or self._input_shape is None or None in self._input_shape[1:3]:
            raise ValueError("IGOSPlusPlus needs a model with a fixed 2D input size (mode='2D')")
        for key in ("size", "iterations", "ig_steps", "line_steps"):
            setattr(self, key, check_positive_int(getattr(self, key), key))
        self.samples_per_image = 2 * max(self.ig_steps, self.line_steps)
        for key in ("l1", "tv"):
            setattr(self, key, check_number(getattr(self, key), key, low_open=False))
        self.learning_rate = check_number(self.learning_rate, "learning_rate")
        h, w = (int(s) for s in self._input_shape[1:3])
        self.blur = scaled(self.blur, 15.0, max(h, w), "blur")
        if self.perturbation not in PERTURBATIONS:
            raise ValueError(f"`perturbation` must be one of {PERTURBATIONS}, got {self.perturbation!r}")
        self.grid = (min(self.size, h), min(self.size, w))

    def _scores(self, masks, rows, base, classes, size) -> tuple[tf.Tensor, tf.Tensor]:
        """(deletion, insertion) class outputs (n,) for masks (n, gh, gw) of rows (n, H, W, C)."""
        s = resize_maps(masks, size)[..., None]
        deleted = rows * (1.0 - s) + base * s
        inserted = rows * s + base * (1.0 - s)
        both = self._row_scores(
            tf.concat([deleted, inserted], 0), tf.concat([classes, classes], 0), output=True
        )
        return tf.split(both, 2)

    def _regularisers(self, masks: tf.Tensor) -> tf.Tensor:
        dy = masks[:, 1:] - masks[:, :-1]
        dx = masks[:, :, 1:] - masks[:, :, :-1]
        tv = tf.reduce_mean(tf.square(dy), axis=[1, 2]) + tf.reduce_mean(tf.square(dx), axis=[1, 2])
        return self.l1 * tf.reduce_mean(masks, axis=[1, 2]) + self.tv * tv

    def _energy(self, masks, rows, base, classes, size) -> tf.Tensor:
        deletion, insertion = self._scores(masks, rows, base, classes, size)
        return deletion - insertion + self._regularisers(masks)

    def _direction(self, masks, rows, base, classes, size) -> tf.Tensor:
        """The integrated gradient of the score terms plus the regularisers' gradient, (n, gh, gw)."""
        n = self.ig_steps
        alphas = tf.range(1, n + 1, dtype=tf.float32) / n
        rep = tf.shape(masks)[0]
        scaled_masks = tf.reshape(alphas[:, None, None, None] * masks[None], tf.concat([[-1], self.grid], 0))
        tile = [n, 1, 1, 1]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(scaled_masks)
            deletion, insertion = self._scores(
                scaled_masks, tf.tile(rows, tile), tf.tile(base, tile), tf.tile(classes, [n]), size
            )
            total = tf.reduce_sum(deletion - insertion)
        g = tape.gradient(total, scaled_masks, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        ig = tf.reduce_mean(tf.reshape(g, tf.concat([[n, rep], self.grid], 0)), axis=0)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(masks)
            reg = tf.reduce_sum(self._regularisers(masks))
        return ig + tape.gradient(reg, masks)

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes)  # (b, k)
        k, size = classes.shape[1], [int(s) for s in x.shape[1:3]]
        rows, row_classes = rows_of(x, classes)
        base, _ = rows_of(perturbed(x, self.perturbation, self.blur), classes)
        masks = tf.zeros(tf.concat([tf.shape(row_classes), self.grid], 0))
        n_lr = self.line_steps
        rates = self.learning_rate / 2.0 ** tf.range(n_lr, dtype=tf.float32)  # (J,)
        tile = [n_lr, 1, 1, 1]

        def body(t, s):
            d = self._direction(s, rows, base, row_classes, size)
            now = self._energy(s, rows, base, row_classes, size)  # (n,)
            trials = tf.clip_by_value(s[None] - rates[:, None, None, None] * d[None], 0.0, 1.0)
            flat = tf.reshape(trials, tf.concat([[-1], self.grid], 0))
            energy = self._energy(
                flat, tf.tile(rows, tile), tf.tile(base, tile), tf.tile(row_classes, [n_lr]), size
            )
            energy = tf.reshape(energy, [n_lr, -1])  # (J, n)
            best = tf.argmin(energy, axis=0, output_type=tf.int32)  # (n,)
            chosen = tf.gather(tf.transpose(trials, [1, 0, 2, 3]), best, batch_dims=1)
            better = tf.reduce_min(energy, axis=0) < now
            return t + 1, tf.where(better[:, None, None], chosen, s)

        _, masks = tf.while_loop(lambda t, s: t < self.iterations, body, (tf.constant(0), masks))
        maps = resize_maps(masks, size)
        return preds, tf.reshape(maps, tf.concat([tf.shape(x)[:1], [k], size], 0))
