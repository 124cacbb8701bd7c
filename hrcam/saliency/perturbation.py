"""What the optimised-mask methods share (Extremal Perturbations, iGOS++): rows of (image, class) copies,
the perturbed image (a blurred or a black copy), scores of composed images, an Adam step, options."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from hrcam.saliency.blur import blur_images

__all__ = ["PERTURBATIONS", "check_number", "rows_of", "perturbed", "RowScores", "adam_step", "scaled"]

#: what replaces the image where a mask removes it: a Gaussian blur of it, or black
PERTURBATIONS = ("blur", "fade")


def check_number(
    value: Any, name: str, lo: float = 0.0, hi: float | None = None, low_open: bool = True
) -> float:
    """``value`` as a float in (lo, hi] (``[lo, hi]`` with ``low_open=False``); ValueError naming it."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok:
        ok = (value > lo if low_open else value >= lo) and (hi is None or value <= hi)
    if not ok:
        span = f"{'(' if low_open else '['}{lo:g}, {'inf)' if hi is None else f'{hi:g}]'}"
        raise ValueError(f"`{name}` must be a number in {span}, got {value!r}")
    return float(value)


def scaled(value: Any, reference: float, size: int, name: str) -> float:
    """``value``, or (``None``) ``reference`` pixels at 224 px scaled to an image side of ``size``."""
    return check_number(reference * size / 224.0 if value is None else value, name)


def rows_of(x: tf.Tensor, classes: tf.Tensor, copies: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """Each image repeated per (class, copy): rows (b * k * copies, *item) and their classes (same length).

    Row ``(i * k + j) * copies + a`` is image i, its j-th class, copy a."""
    k = classes.shape[1]
    reps = tf.repeat(x, k * copies, axis=0)
    return reps, tf.repeat(tf.reshape(classes, [-1]), copies)


def perturbed(x: tf.Tensor, kind: str, sigma: float) -> tf.Tensor:
    """The image where a mask removes it: ``"blur"`` (Gaussian, ``sigma`` px) or ``"fade"`` (black)."""
    if kind == "fade":
        return tf.zeros_like(x)
    return blur_images(x, [sigma])[:, 0]


class RowScores:
    """Mixin of the optimised-mask methods: each row's class score of a batch of composed images."""

    def _row_scores(self, images: tf.Tensor, classes: tf.Tensor, output: bool = False) -> tf.Tensor:
        """(n,) each row's class score (pre-softmax) of (n, *item) images, or with ``output`` the model's
        output (a probability for a softmax classifier)."""
        fwd = self._forward(images)
        return tf.gather(fwd.preds if output else fwd.scores, classes, batch_dims=1)


def adam_step(param, grad, m, v, t, lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """One Adam update (Kingma & Ba): ``(param, m, v)`` after step ``t`` (1-based, a float tensor)."""
    m = b1 * m + (1.0 - b1) * grad
    v = b2 * v + (1.0 - b2) * tf.square(grad)
    m_hat = m / (1.0 - tf.pow(b1, t))
    v_hat = v / (1.0 - tf.pow(b2, t))
    return param - lr * m_hat / (tf.sqrt(v_hat) + eps), m, v
