"""LIME (Ribeiro et al. 2016) for images: a weighted ridge fit of the score on the kept superpixels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod
from hrcam.saliency.checks import check_positive_int

__all__ = ["LIME", "superpixels", "SEGMENTATIONS"]

SEGMENTATIONS = ("quickshift", "slic", "felzenszwalb", "grid")


def superpixels(image: np.ndarray, method: str | Callable = "quickshift", n_segments: int = 50) -> np.ndarray:
    """(H, W) int labels 0 .. S - 1 of one (H, W, C) float image in [0, 1].

    ``"quickshift"`` (the lime package's default: kernel_size 4, max_dist 200, ratio 0.2), ``"slic"``
    (``n_segments`` segments, compactness 10), ``"felzenszwalb"`` (scale 100, sigma 0.5, min_size 50) from
    scikit-image, ``"grid"`` (about ``n_segments`` equal cells), or a callable ``fn(image) -> (H, W) labels``.
    """
    h, w = image.shape[:2]
    rgb = image if image.shape[-1] == 3 else np.repeat(image[..., :1], 3, axis=-1)
    if callable(method):
        labels = np.asarray(method(image))
    elif method == "grid":
        side = max(1, round(float(np.sqrt(n_segments))))
        labels = (np.arange(h)[:, None] * side // h) * side + (np.arange(w)[None] * side // w)
    else:
        from skimage import segmentation

        if method == "quickshift":
            labels = segmentation.quickshift(rgb.astype(np.float64), kernel_size=4, max_dist=200, ratio=0.2)
        elif method == "slic":
            labels = segmentation.slic(rgb, n_segments=n_segments, compactness=10, start_label=0)
        else:
            labels = segmentation.felzenszwalb(rgb, scale=100, sigma=0.5, min_size=50)
    if labels.shape != (h, w):
        raise ValueError(f"the segmentation must give ({h}, {w}) labels, got shape {labels.shape}")
    return np.unique(labels, return_inverse=True)[1].reshape(h, w)


def weighted_ridge(z: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """Coefficients (S, k) of ``y (n, k) ~ z (n, S) @ coef + intercept`` by ridge regression with sample
    weights (the intercept is not penalised; as sklearn's ``Ridge(alpha).fit(z, y, sample_weight)``)."""
    w = weights / weights.sum()
    zc = z - w @ z
    yc = y - w @ y
    gram = zc.T @ (zc * weights[:, None]) + alpha * np.eye(z.shape[1])
    return np.linalg.solve(gram, zc.T @ (yc * weights[:, None]))


class LIME(SaliencyMethod):
    """LIME: ``samples`` random subsets of an image's superpixels are kept (the others replaced by their mean
    colour, or ``hide_color``); the model's output for the class on each copy is fitted by a ridge regression
    (``alpha``) on the kept-superpixel indicators, weighted by ``sqrt(exp(-d^2 / kernel_width^2))`` with ``d``
    the cosine distance to the unperturbed image (the lime package's image explainer, with all superpixels
    in the fit). The map gives each pixel its superpixel's coefficient, for every requested class from the
    same copies.

    Superpixels come from scikit-image on the CPU, so the source is not traceable (not a serving head); the
    copies go through the model in compiled chunks of ``chunk_size``. Seeded: the same ``seed`` gives the
    same subsets.

    Args:
        **kwargs: the base's options (``batch_size``, ``normalize``, ...).
        samples: perturbed copies per image (lime: 1000); the first is the image itself.
        segmentation: ``"quickshift"`` (lime's default; its settings suit photographs of about 224 px and
            give a single superpixel on small images, where ``"slic"`` or ``"grid"`` fit better),
            ``"slic"``, ``"felzenszwalb"``, ``"grid"``, or a callable
            ``fn(image (H, W, C) in [0, 1]) -> (H, W) int labels``.
        n_segments: superpixels for ``"slic"`` and ``"grid"``.
        kernel_width: of the similarity kernel (lime: 0.25). alpha: ridge penalty (lime: 1).
        hide_color: ``None`` (each superpixel's mean colour, lime's default) or a value in [0, 1].
        chunk_size: copies per forward pass. seed: int, or ``None`` (new subsets on every call).
    """

    name = "LIME"
    needs_gradients = False
    traceable = False
    options = {"samples": 1000, "segmentation": "quickshift", "n_segments": 50, "kernel_width": 0.25,
               "alpha": 1.0, "hide_color": None, "chunk_size": 64, "seed": 0}  # fmt: skip

    def _setup(self, layer: Any) -> None:
        if self.mode != "2D":
            raise ValueError("LIME supports mode='2D' only")
        self.samples = check_positive_int(self.samples, "samples")
        self.chunk_size = check_positive_int(self.chunk_size, "chunk_size")
        self.n_segments = check_positive_int(self.n_segments, "n_segments")
        if not callable(self.segmentation) and self.segmentation not in SEGMENTATIONS:
            raise ValueError(
                f"`segmentation` must be one of {SEGMENTATIONS} or a callable, got {self.segmentation!r}"
            )
        for key in ("kernel_width", "alpha"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{key}` must be a number > 0, got {value!r}")
        if self.hide_color is not None and not 0.0 <= float(self.hide_color) <= 1.0:
            raise ValueError(f"`hide_color` must be None or in [0, 1], got {self.hide_color!r}")

    def _outputs(self, copies: np.ndarray) -> np.ndarray:
        """(n, C) model outputs of (n, H, W, C) copies, in chunks of a fixed size (one trace)."""
        fn = self.compiled_fns["predict"]
        n, size = copies.shape[0], self.chunk_size
        outs = []
        for start in range(0, n, size):
            part = copies[start : start + size]
            pad = size - part.shape[0]
            if pad:
                part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), part.dtype)])
            outs.append(fn(tf.constant(part)).numpy()[: size - pad])
        return np.concatenate(outs)

    def explain_image(self, image: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(k, H, W) LIME maps of one (H, W, C) image for ``classes`` (k,)."""
        seg = superpixels(image, self.segmentation, self.n_segments)
        n_seg = int(seg.max()) + 1
        z = (rng.random((self.samples, n_seg)) < 0.5).astype(np.float32)
        z[0] = 1.0
        if self.hide_color is None:
            counts = np.bincount(seg.ravel(), minlength=n_seg)[:, None]
            means = np.stack([np.bincount(seg.ravel(), weights=image[..., c].ravel(), minlength=n_seg)
                              for c in range(image.shape[-1])], -1) / counts  # fmt: skip
            fudge = means[seg].astype(np.float32)
        else:
            fudge = np.full_like(image, float(self.hide_color))
        outs = []
        for start in range(0, self.samples, self.chunk_size):
            keep = z[start : start + self.chunk_size][:, seg][..., None]  # (n, H, W, 1)
            outs.append(self._outputs(image[None] * keep + fudge[None] * (1.0 - keep)))
        y = np.concatenate(outs)[:, classes].astype(np.float64)  # (samples, k)
        norms = np.sqrt(z.sum(1))
        cosine = np.where(norms > 0, 1.0 - z.sum(1) / np.maximum(norms * np.sqrt(n_seg), 1e-12), 1.0)
        weights = np.sqrt(np.exp(-(cosine**2) / float(self.kernel_width) ** 2))
        coef = weighted_ridge(z.astype(np.float64), y, weights, float(self.alpha))  # (S, k)
        return coef.T[:, seg].astype(np.float32)

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes).numpy()
        images = np.asarray(x, np.float32)
        base = [int(v) & 0xFFFFFFFF for v in np.asarray(seed)]
        maps = [
            self.explain_image(img, cls, np.random.default_rng([*base, i]))
            for i, (img, cls) in enumerate(zip(images, classes, strict=True))
        ]
        return preds, tf.constant(np.stack(maps), tf.float32)
