"""COSE's view of a map source: one callable ``images -> (probabilities, maps)`` that can be rebuilt on
another model.

:class:`MapSource` wraps any source of :mod:`hrcam.sources` by name (every gradient / CAM / perturbation
method, HR-CAM's maps, a CASM masker, an Explainer, the baselines) or any function
``fn(images) -> (probs, maps)``. :meth:`MapSource.on` rebuilds the same source on another model (a randomly
initialised copy or a checkpoint: COSE's model perturbations); :func:`random_copy` makes the randomly
initialised copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.ops import to_numpy

__all__ = ["MapSource", "method_source", "function_source", "random_copy", "probability_fn"]

MapFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class MapSource:
    """A named map source bound to a model.

    Args:
        name: label for tables (e.g. ``"GradCAM"``).
        model: the classifier (``None`` for plain functions).
        build: ``build(model) -> fn`` with ``fn(images (B, H, W, C) float32 in [0, 1]) -> (probs (B, C),
            maps (B, H, W))``, maps at the images' size.

    Calling the source checks what ``fn`` returns and keeps the time spent in it (:attr:`seconds`,
    :attr:`images_seen`).
    """

    def __init__(self, name: str, model: Any, build: Callable[[Any], MapFn]) -> None:
        self.name = str(name)
        self.model = model
        self._build = build
        self._fn = build(model)
        self.seconds = 0.0
        self.images_seen = 0

    def on(self, model: Any) -> MapSource:
        """The same method on another model (a perturbation: random weights, a checkpoint)."""
        return MapSource(self.name, model, self._build)

    def __call__(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(images, np.float32)
        t0 = time.perf_counter()
        probs, maps = self._fn(x)
        self.seconds += time.perf_counter() - t0
        self.images_seen += int(x.shape[0])
        probs, maps = np.asarray(to_numpy(probs), np.float32), np.asarray(to_numpy(maps), np.float32)
        want = tuple(x.shape[:3])
        if maps.shape != want:
            raise ValueError(
                f"map source {self.name!r} returned maps of shape {maps.shape}; expected {want} "
                "(one (H, W) map per image, at the images' size)"
            )
        if probs.ndim != 2 or probs.shape[0] != x.shape[0]:
            raise ValueError(
                f"map source {self.name!r} returned probabilities of shape {probs.shape}; "
                f"expected ({x.shape[0]}, C)"
            )
        return probs, maps

    def __repr__(self) -> str:
        return f"MapSource({self.name!r})"


def function_source(fn: MapFn, name: str = "function") -> MapSource:
    """A source from a plain function ``fn(images) -> (probs, maps)`` (no model perturbations)."""
    if not callable(fn):
        raise TypeError(f"`fn` must be callable, got {type(fn).__name__}")
    return MapSource(name, None, lambda _model: fn)


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
