"""The Explainer's class-mask protocol over map sources by name (``hrcam score --masks``): per-class maps of
any source, the segmentation table and the class-specificity matrix (the metrics are
:mod:`hrcam.explainer.class_masks`).

Methods: the trivial baselines ``0``, ``0.5``, ``1`` and ``perfect`` (from the ground truth), or any
:mod:`hrcam.sources` spec on the classifier: a trained Explainer's per-class masks ``explainer:model=E.keras``
(one forward pass for all classes), ``gradcam``, ``rise``, ``guidedbackprop``, ``casm:masker=M.keras``, ...
one map per class (RISE weights its masks by the sigmoid of the logits, the classifier being multi-label;
CAM methods use the multi-label classifier's ``features`` layer).

As in the original, maps are computed for the ground-truth classes and max-merged per image; masked images
for the ``saliency`` metric and the specificity matrix are ``x * mask`` in pixel space (black fill).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.explainer.class_masks import (
    SPECIFICITY_THRESHOLDS,
    TRIVIAL_BASELINES,
    merge_class_maps,
    segmentation_table,
    specificity_matrix,
    trivial_maps,
)
from hrcam.explainer.classifier import FEATURES_LAYER
from hrcam.highres.loading import classifier_of

__all__ = ["class_maps", "evaluate_methods", "specificity", "softmax_probs"]


def _batches(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


def softmax_probs(classifier: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, C) softmax of the classifier's logits on float images in [0, 1] (a classifier that ends in a
    softmax, e.g. a HalfModel, gives its outputs as they are)."""
    model = classifier_of(classifier)
    last = model.layers[-1]
    probs = (
        isinstance(last, keras.layers.Softmax)
        or getattr(last, "activation", None) is keras.activations.softmax
    )
    fn = tf.function(
        lambda x: model(x, training=False) if probs else tf.nn.softmax(model(x, training=False), -1)
    )
    return np.concatenate(
        [fn(tf.constant(images[s], tf.float32)).numpy() for s in _batches(len(images), batch_size)]
    )


def class_maps(
    method: str,
    images: np.ndarray,
    classifier: keras.Model,
    batch_size: int = 32,
    rise_masks: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """(N, C, H, W) float32 maps in [0, 1] of every class for float images (N, H, W, 3) in [0, 1].

    ``method`` is any :mod:`hrcam.sources` spec (``explainer:model=E.keras``, ``gradcam``, ``rise``, ...).
    The protocol's options go to every source that takes them: CAM methods use the classifier's
    ``features`` layer; RISE ``rise_masks`` masks weighted by the sigmoid of the logits (the classifier is
    multi-label), seeded with ``seed``.
    """
    from hrcam import sources

    c = int(classifier_of(classifier).outputs[0].shape[-1])
    protocol: dict[str, Any] = {
        "batch_size": batch_size,
        "n_masks": rise_masks,
        "activation": "sigmoid",
        "seed": seed,
        "chunk_size": min(rise_masks, 256),
    }
    names = {layer.name for layer in classifier_of(classifier).layers}
    if sources.source_class(method).needs_layer and FEATURES_LAYER in names:  # the multi-label classifier's
        protocol["layer"] = FEATURES_LAYER
    if "n_masks" in sources.option_names(method):
        protocol["batch_size"] = max(256, batch_size)
    accepted = sources.option_names(method)
    options = {k: v for k, v in protocol.items() if k in accepted}
    source = sources.get(method, classifier, **options)
    maps = source.run(images, np.tile(np.arange(c), (len(images), 1))).maps
    if maps.ndim == 5:  # channel_reduce="none" is never used here; keep the first channel reduction
        maps = maps.max(-1)
    return np.asarray(maps, np.float32)


def specificity(
    classifier: keras.Model,
    images: np.ndarray,
    maps: np.ndarray,
    labels: np.ndarray,
    classes=None,
    batch_size=64,
) -> np.ndarray:
    """The (K, K) class-specificity matrix (:func:`hrcam.explainer.class_masks.specificity_matrix`) of
    per-class maps (N, C, H, W) on images (N, H, W, 3) in [0, 1]."""
    cls = np.arange(maps.shape[1]) if classes is None else np.asarray(classes, int)
    keep = labels[:, cls].any(axis=1)
    images, maps, labels = images[keep], maps[keep][:, cls], labels[keep]
    thr = np.asarray(SPECIFICITY_THRESHOLDS, np.float32)
    n, k = maps.shape[:2]
    binary = (maps[:, :, None] > thr[None, None, :, None, None]).astype(np.float32)  # (n, K, T, H, W)
    masked = images[:, None, None] * binary[..., None]
    probs = softmax_probs(classifier, masked.reshape(-1, *images.shape[1:]), batch_size)
    return specificity_matrix(probs.reshape(n, k, len(thr), -1), labels, cls)


def evaluate_methods(
    methods: list[str],
    images: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    classifier: keras.Model,
    batch_size: int = 32,
    rise_masks: int = 2000,
    specificity_classes: Any = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The segmentation table (and optionally the specificity matrices) of ``methods`` (map source specs of
    :mod:`hrcam.sources`, or the trivial baselines ``0``, ``0.5``, ``1``, ``perfect`` built from the ground
    truth).

    Args:
        images: (N, H, W, 3) uint8 or float in [0, 1]; labels (N, C) multi-hot; masks (N, C, H, W) bool.
        specificity_classes: classes of the specificity matrix (``None``: skip it).

    Returns:
        ``{"table": {method: {metric: value}}, "specificity": {method: (K, K) list},
        "maps": {method: (N, H, W)},
        "seconds": {method: s}, "none": [K] unmasked probabilities}``.
    """
    import time

    x = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    gt = merge_class_maps(masks.astype(np.float32), labels)
    out: dict[str, Any] = {"table": {}, "specificity": {}, "maps": {}, "seconds": {}}
    for method in methods:
        t0 = time.perf_counter()
        per_class = None
        if method in TRIVIAL_BASELINES:
            merged = trivial_maps(method, gt)
        else:
            per_class = class_maps(method, x, classifier, batch_size, rise_masks, seed)
            merged = merge_class_maps(per_class, labels)
        out["seconds"][method] = time.perf_counter() - t0
        probs = softmax_probs(classifier, x * merged[..., None], batch_size * 2)
        out["table"][method] = segmentation_table(merged, gt, probs, labels)
        out["maps"][method] = merged
        if specificity_classes is not None and per_class is not None:
            out["specificity"][method] = specificity(
                classifier, x, per_class, labels, specificity_classes, batch_size * 4
            ).tolist()
    if specificity_classes is not None:
        cls = np.asarray(specificity_classes, int)
        p = softmax_probs(classifier, x, batch_size * 2)
        out["none"] = [
            float(p[labels[:, t] > 0, t].mean()) if labels[:, t].any() else float("nan") for t in cls
        ]
    return out
