"""COSE's view of a map source: one callable ``images -> (probabilities, maps)`` that can be rebuilt on
another model (:meth:`MapSource.on`: COSE's model perturbations).

:func:`hrcam.sources.cose.method_source` makes one from any map source of :mod:`hrcam.sources` by name;
:func:`function_source` from any function ``fn(images) -> (probs, maps)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hrcam.ops import to_numpy

__all__ = ["MapSource", "function_source"]

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
