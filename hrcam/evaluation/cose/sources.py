"""Map sources: one callable ``images -> (probabilities, maps)`` for any way of making saliency maps.

:class:`MapSource` wraps every :mod:`hrcam.saliency` method (by name, on any Keras classifier), HR-CAM's own
maps (``"hrcam"`` / ``"hrcam-high"``: a FullModel's high-resolution CAM, ``"hrcam-low"``: the CAM head's
feature-resolution map, up-sampled, ``"hrcam-guided"``: that map's image-guided up-sampling,
:mod:`hrcam.ops.guided`), or any function ``fn(images) -> (probs, maps)``. A source can be rebuilt
on another model with :meth:`MapSource.on` (the same method on a randomly initialised copy or on a checkpoint:
COSE's model perturbations); :func:`random_copy` makes the randomly initialised copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.ops import to_numpy

__all__ = ["MapSource", "method_source", "function_source", "random_copy", "probability_fn", "HRCAM_SOURCES"]

MapFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
_HRCAM_LABELS = {
    "hrcam": "HR-CAM",
    "hrcam-high": "HR-CAM",
    "hrcam-low": "HR-CAM low",
    "hrcam-guided": "HR-CAM guided",
}
_HRCAM_KEYS = {"hrcam": "hrcam", "hrcam-high": "hrcam", "hrcam-low": "cam", "hrcam-guided": "guided"}
HRCAM_SOURCES = tuple(_HRCAM_LABELS)  # "hrcam", "hrcam-high", "hrcam-low", "hrcam-guided"


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


def _hrcam_fn(model: Any, which: str, batch_size: int) -> MapFn:
    from hrcam.evaluation.scoring import upsample_maps
    from hrcam.highres import FullModel

    if not _is_hrcam_model(model):
        raise ValueError(f"method {which!r} needs a HalfModel or FullModel, got {type(model).__name__}")
    if which in ("hrcam", "hrcam-high") and not isinstance(model, FullModel):
        raise ValueError(
            f"method {which!r} needs a FullModel (HR-CAM's high-resolution maps); a HalfModel has only "
            "'hrcam-low' (its CAM head) and 'hrcam-guided'"
        )
    key = _HRCAM_KEYS[which]

    def fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # one compiled pass gives the predicted class's maps and the probabilities (custom_class None)
        out = model.generate_cams(x, batch_size=batch_size, guided=key == "guided")
        if key == "hrcam":
            return out[-1], out[0]
        if key == "guided":
            return out[-1], np.asarray(out[-2], np.float32)
        return out[-1], upsample_maps(out[-2], tuple(x.shape[1:3]))

    return fn


def method_source(model: Any, method: str, batch_size: int = 32, **kwargs: Any) -> MapSource:
    """A source for ``method`` on ``model``: an :mod:`hrcam.saliency` name (``"gradcam"``, ``"scorecam"``,
    ``"ig"``, ...) or one of :data:`HRCAM_SOURCES`; ``kwargs`` go to the saliency method.

    Raises:
        ValueError: unknown method, or an HR-CAM source on a model without HR-CAM's head.
    """
    if not isinstance(method, str):
        raise TypeError(f"`method` must be a method name, got {type(method).__name__}")
    key = method.lower().replace("_", "-")
    if key in HRCAM_SOURCES:
        return MapSource(_HRCAM_LABELS[key], model, lambda m: _hrcam_fn(m, key, batch_size))
    from hrcam.saliency import get

    cls = get(method)

    def build(m: Any) -> MapFn:
        if _is_hrcam_model(m):
            m = getattr(m, "half_model", m).model  # a FullModel's classifier view (one output)
        explainer = cls(m, batch_size=batch_size, **kwargs)
        return lambda x: explainer(x)

    return MapSource(cls.name, model, build)


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
    """``fn(images) -> (n, C)`` class probabilities of ``model`` (HalfModel / FullModel: ``predict_proba``;
    a Keras model: its output, the ``"probabilities"`` entry of a dict output), one compiled call per
    batch."""
    if _is_hrcam_model(model):
        return lambda x: model.predict_proba(np.asarray(x, np.float32))
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")

    @tf.function(reduce_retracing=True)
    def fn(x: tf.Tensor) -> tf.Tensor:
        out = model(x, training=False)
        return out["probabilities"] if isinstance(out, dict) else out

    return lambda x: fn(tf.convert_to_tensor(x, tf.float32)).numpy()
