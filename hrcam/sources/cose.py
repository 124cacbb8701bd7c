"""COSE and faithfulness over map sources named as in :mod:`hrcam.sources` (``hrcam evaluate saliency``).

    >>> from hrcam.sources.cose import method_source, random_copy, evaluate_methods
    >>> source = method_source(model, "gradcam")            # a COSE MapSource, rebuilt on perturbed models
    >>> table, info = cose_table(source, images, labels, perturbations={"random": random_copy(model)})
    >>> rows = evaluate_methods({"m": model}, images, labels, ["gradcam", "casm:masker=m.keras"])

The metric itself (:mod:`hrcam.evaluation.cose`) takes any :class:`~hrcam.evaluation.cose.sources.MapSource`;
this module makes them from names and models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.evaluation.cose import transforms as T
from hrcam.evaluation.cose.faithfulness import deletion_insertion, masked_saliency_score
from hrcam.evaluation.cose.metric import cose_bootstrap, cose_summary, cose_table
from hrcam.evaluation.cose.sources import MapFn, MapSource

__all__ = ["method_source", "random_copy", "probability_fn", "evaluate_methods"]


def _is_hrcam_model(model: Any) -> bool:
    from hrcam.highres import FullModel, HalfModel

    return isinstance(model, (HalfModel, FullModel))


def method_source(model: Any, method: str, batch_size: int = 32, **kwargs: Any) -> MapSource:
    """A source for the :mod:`hrcam.sources` spec ``method`` on ``model`` (``"gradcam"``, ``"scorecam"``,
    ``"high_res_cam"``, ``"casm:masker=M.keras"``, ...); ``kwargs`` are the source's options. Labelled by
    the source's class name (``"GradCAM"``, ``"HighResCAM"``, ``"CASM"``).

    Raises:
        ValueError: unknown source, or a model the source cannot use (e.g. ``high_res_cam`` on a HalfModel).
    """
    from hrcam import sources

    if not isinstance(method, str):
        raise TypeError(f"`method` must be a map source name, got {type(method).__name__}")

    def build(m: Any) -> MapFn:
        source = sources.get(method, m, batch_size=batch_size, **kwargs)
        return lambda x: source(x)

    return MapSource(sources.source_class(method).name, model, build)


def random_copy(model: Any, seed: int = 1234) -> keras.Model:
    """A copy of ``model`` with freshly initialised weights (COSE's ``random`` perturbation).

    HalfModel / FullModel files: the plain Keras view is cloned, so the copy is a plain ``keras.Model`` with
    the same outputs (use a saliency method on it; HR-CAM's own maps need the hrcam class).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")
    keras.utils.set_random_seed(seed)
    base = model.model if _is_hrcam_model(model) else model
    clone = keras.models.clone_model(base)
    if _is_hrcam_model(model):
        from hrcam.highres.loading import wrap_keras_model

        try:
            return wrap_keras_model(clone)
        except (TypeError, ValueError):
            return clone
    return clone


def probability_fn(model: Any) -> Callable[[Any], np.ndarray]:
    """``fn(images) -> (n, C)`` class probabilities of ``model`` (its classifier's outputs: a HalfModel /
    FullModel's probabilities, a Keras model's output), one compiled call per batch."""
    from hrcam.highres.loading import classifier_of

    classifier = classifier_of(model)

    @tf.function(reduce_retracing=True)
    def fn(x: tf.Tensor) -> tf.Tensor:
        return classifier(x, training=False)

    return lambda x: fn(tf.convert_to_tensor(x, tf.float32)).numpy()


def evaluate_methods(
    models: Mapping[str, Any],
    images: np.ndarray,
    labels: np.ndarray,
    methods: Sequence[str],
    *,
    transforms: Sequence[str] | None = None,
    magnitudes: Sequence[float] = T.DEFAULT_MAGNITUDES,
    perturbations: Mapping[str, Mapping[str, Any]] | None = None,
    steps: int = 16,
    baseline: str = "blur",
    batch_size: int = 32,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    bootstrap: int = 0,
    log: Any = None,
) -> list[dict[str, Any]]:
    """One result row per (model, method).

    Args:
        models: ``{name: model}`` (HalfModel / FullModel / any Keras classifier).
        images: (N, H, W, 3) float32 in [0, 1]; labels: (N,) int.
        methods: names for :func:`~hrcam.evaluation.cose.sources.method_source`.
        perturbations: ``{model name: {perturbation name: model}}`` (random copy, checkpoints).
        steps, baseline: deletion / insertion settings.
        method_options: ``{method: {option: value}}`` passed to the saliency method.
        bootstrap: draws of :func:`~hrcam.evaluation.cose.metric.cose_bootstrap` over the correct images
            (0: none); adds ``consistency_ci``, ``fidelity_ci``, ``cose_ci`` and ``cose_draws`` (a list; the
            same draws for every method on the same correct images, so differences are paired).
        log: ``log(str)`` progress callback.

    Returns:
        dicts with ``model``, ``method`` and the :func:`cose_summary` keys, plus ``deletion``,
        ``insertion``, ``masked_score`` (means over the correct images), ``seconds_per_image`` (time in
        the map source per map), ``seconds_total`` (the whole evaluation), ``n_images``, ``n_correct``,
        ``accuracy``.
    """
    rows = []
    for model_name, model in models.items():
        prob = probability_fn(model)
        for method in methods:
            t0 = time.perf_counter()
            source = method_source(
                model, method, batch_size=batch_size, **dict((method_options or {}).get(method, {}))
            )
            # warm up (tracing) outside the timed part
            source(images[: min(len(images), batch_size)])
            source.seconds, source.images_seen = 0.0, 0
            table, info = cose_table(
                source,
                images,
                labels,
                transforms=transforms,
                magnitudes=magnitudes,
                perturbations=(perturbations or {}).get(model_name),
                batch_size=batch_size,
            )
            row: dict[str, Any] = {"model": model_name, "method": source.name}
            row.update(cose_summary(table))
            if bootstrap and len(table):
                boot = cose_bootstrap(table, n_boot=bootstrap)
                draws = [float(v) if np.isfinite(v) else None for v in boot["cose_draws"]]  # JSON: no NaN
                row.update({**boot, "cose_draws": draws})
            keep = info["correct_index"]
            row.update({k: info[k] for k in ("n_images", "n_correct", "accuracy", "skipped_perturbations")})
            row["seconds_per_image"] = source.seconds / max(source.images_seen, 1)
            if len(keep):
                x, y, maps = images[keep], labels[keep], info["original_maps"]
                t1 = time.perf_counter()
                fa = deletion_insertion(
                    prob, x, maps, y, steps=steps, baseline=baseline, batch_size=batch_size
                )
                row["seconds_faithfulness"] = time.perf_counter() - t1
                row["deletion"], row["insertion"] = (
                    float(fa["deletion"].mean()),
                    float(fa["insertion"].mean()),
                )
                row["masked_score"] = float(
                    np.mean(masked_saliency_score(prob, x, maps, y, batch_size=batch_size))
                )
            row["seconds_total"] = time.perf_counter() - t0
            rows.append(row)
            if log:
                log(
                    f"{model_name} / {row['method']}: COSE {100 * row['cose']:.1f}  "
                    f"C {row['consistency']:.3f}  "
                    f"F {row['fidelity']:.3f}  del {row.get('deletion', float('nan')):.3f}  "
                    f"ins {row.get('insertion', float('nan')):.3f}  ({row['seconds_total']:.1f} s)"
                )
    return rows
