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

import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.explainer.class_masks import (
    SPECIFICITY_THRESHOLDS,
    TRIVIAL_BASELINES,
    f1_curve,
    merge_class_maps,
    per_class_table,
    segmentation_table,
    specificity_matrix,
    trivial_maps,
)
from hrcam.explainer.classifier import FEATURES_LAYER
from hrcam.highres.loading import classifier_of

__all__ = ["class_maps", "evaluate_methods", "run_test_metrics", "specificity", "softmax_probs"]


def _batches(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


_PROB_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _probability_fn(classifier: keras.Model):
    """The compiled softmax of a classifier, made once per classifier (the protocol calls it many times)."""
    fn = _PROB_FNS.get(classifier)
    if fn is None:
        model = classifier_of(classifier)
        last = model.layers[-1]
        probs = (
            isinstance(last, keras.layers.Softmax)
            or getattr(last, "activation", None) is keras.activations.softmax
        )
        fn = tf.function(
            lambda x: model(x, training=False) if probs else tf.nn.softmax(model(x, training=False), -1),
            reduce_retracing=True,
        )
        _PROB_FNS[classifier] = fn
    return fn


def softmax_probs(classifier: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, C) softmax of the classifier's logits on float images in [0, 1] (a classifier that ends in a
    softmax, e.g. a HalfModel, gives its outputs as they are)."""
    fn = _probability_fn(classifier)
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


def _masked_pair_probs(classifier, x, pairs, pair_maps, batch_size: int, chunk: int = 256) -> np.ndarray:
    """(P, C) softmax of the classifier on ``x[image] * pair map`` for each (image, class) pair."""
    parts = [
        softmax_probs(
            classifier, x[pairs[i : i + chunk, 0]] * pair_maps[i : i + chunk, ..., None], batch_size
        )
        for i in range(0, len(pairs), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


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
    class_names: Any = None,
    on_maps: Any = None,
) -> dict[str, Any]:
    """The segmentation table, per class and over all images (and optionally the specificity matrices) of
    ``methods`` (map source specs of :mod:`hrcam.sources`, or the trivial baselines ``0``, ``0.5``, ``1``,
    ``perfect`` built from the ground truth).

    Args:
        images: (N, H, W, 3) uint8 or float in [0, 1]; labels (N, C) multi-hot; masks (N, C, H, W) bool.
        specificity_classes: classes of the specificity matrix (``None``: skip it).
        class_names: the C class names of the per-class tables (default: the indices).
        on_maps: optional ``on_maps(method, merged (N, H, W), per_class (N, C, H, W) or None)``, called with
            each method's maps as they are made (e.g. to save them) instead of keeping them all.

    Returns:
        ``{"table": {method: {metric: value}}`` (the paper's table: maps max-merged over an image's classes),
        ``"per_class": {method: {class name: {metric: value}, "mean": {...}}}``, ``"f1_curves": {method:
        [F1 at 0.1 .. 0.9]}``, ``"specificity": {method: (K, K) list}``, ``"maps": {method: (N, H, W)}``,
        ``"seconds": {method: s}``, ``"none": [K] unmasked probabilities}``.
    """
    import time

    x = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    y = np.asarray(labels) > 0
    masks = np.asarray(masks, bool)
    gt = (masks & y[:, :, None, None]).any(axis=1).astype(np.float32)  # the union of the labelled classes
    pairs = np.argwhere(y)  # (P, 2): (image, class) of every labelled class
    pair_masks = masks[pairs[:, 0], pairs[:, 1]].astype(np.float32)
    names = list(class_names) if class_names is not None else [str(c) for c in range(y.shape[1])]
    keys = ("table", "per_class", "f1_curves", "specificity", "maps", "seconds")
    out: dict[str, Any] = {k: {} for k in keys}
    for method in methods:
        t0 = time.perf_counter()
        per_class = None
        if method in TRIVIAL_BASELINES:
            merged, pair_maps = trivial_maps(method, gt), trivial_maps(method, pair_masks)
        else:
            per_class = class_maps(method, x, classifier, batch_size, rise_masks, seed)
            merged = merge_class_maps(per_class, labels)
            pair_maps = per_class[pairs[:, 0], pairs[:, 1]]
        out["seconds"][method] = time.perf_counter() - t0
        probs = softmax_probs(classifier, x * merged[..., None], batch_size * 2)
        out["table"][method] = segmentation_table(merged, gt, probs, labels)
        if len(pairs):  # per class: every (image, labelled class) pair
            pair_probs = _masked_pair_probs(classifier, x, pairs, pair_maps, batch_size * 2)
            out["per_class"][method] = per_class_table(pair_maps, pair_masks, pairs[:, 1], names, pair_probs)
        out["f1_curves"][method] = f1_curve(merged, gt)
        out["maps"][method] = merged
        if on_maps is not None:
            on_maps(method, merged, per_class)
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


def run_test_metrics(cfg: Any, explainer: str, classifier: str, batch_size: int = 32) -> dict[str, Any]:
    """The test metrics of a ``train-explainer`` run: the Explainer's segmentation table on the test split
    (every metric over all images, per class and their mean) and the classifier's micro multi-label metrics
    (a logit >= 0 is a positive, as the original's ``MultiLabelMetrics``) on the same images.

    Args:
        cfg: the run's :class:`~hrcam.explainer.config.ExplainerExperiment`.
        explainer, classifier: the run's ``.keras`` files.
    """
    from hrcam.data.masks import mask_data

    data = mask_data(cfg.data, "test")
    model = keras.saving.load_model(classifier)
    res = evaluate_methods(
        [f"explainer:model={explainer}"],
        data.images,
        data.labels,
        data.masks,
        model,
        batch_size=batch_size,
        class_names=data.class_names,
    )
    fn = tf.function(lambda x: classifier_of(model)(x, training=False))
    logits = np.concatenate(
        [fn(tf.constant(data.images[s], tf.float32) / 255.0).numpy() for s in _batches(len(data), batch_size)]
    )
    t, p = data.labels > 0, logits >= 0.0
    tp, fp, fn_, tn = (float(np.sum(a)) for a in (t & p, ~t & p, t & ~p, ~t & ~p))
    prec, rec = tp / (tp + fp + 1e-10), tp / (tp + fn_ + 1e-10)
    micro = {
        "accuracy": (tp + tn) / (tp + fp + fn_ + tn),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec + 1e-10),
    }
    key = f"explainer:model={explainer}"
    return {
        "num_images": len(data),
        "class_names": list(data.class_names),
        "classifier_micro": micro,
        "table": {"explainer": res["table"][key]},
        "per_class": {"explainer": res["per_class"].get(key, {})},
    }
