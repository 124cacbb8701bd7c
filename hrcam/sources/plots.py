"""Pictures of map sources by name: a grid of images x sources, each map drawn over its image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP

__all__ = ["compare_sources"]


def compare_sources(
    model: Any,
    images: Any,
    specs: Sequence[str],
    targets: Any = None,
    class_names: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    cmap: str = DEFAULT_CMAP,
    **options: Any,
):
    """One row per image, one column per map source (:func:`hrcam.sources.get` specs), with the explained
    class and its probability on the left.

    Args:
        model: what the sources are made on (a Keras classifier, HalfModel, FullModel, a ``.keras`` path).
        images: (N, H, W, C) float32 in [0, 1] or uint8, at the model's input size.
        specs: map sources, e.g. ``["cam", "gradcam", "high_res_cam", "casm:masker=m.keras"]``.
        targets: as for every source (``None`` = each image's predicted class, an int, N ints).
        class_names: names for the row labels. **options: given to every source (e.g. ``batch_size``).

    Returns:
        A matplotlib ``Figure`` (:func:`hrcam.plotting.grids.cam_grid_figure`).
    """
    from hrcam.plotting.grids import cam_grid_figure
    from hrcam.sources import get, label

    if isinstance(specs, str) or not specs:
        raise ValueError(f"`specs` must be a non-empty list of map source names, got {specs!r}")
    columns, first = {}, None
    for spec in specs:
        res = get(spec, model, **options).run(images, targets)
        maps = np.asarray(res.maps)
        if maps.ndim != 3:
            raise ValueError(f"`targets` must give one class per image for a grid, got maps {maps.shape}")
        columns[label(spec)] = maps
        first = first or res
    cls = np.asarray(first.classes).reshape(len(columns[label(specs[0])]), -1)[:, 0]
    probs = np.asarray(first.preds)[np.arange(len(cls)), cls]
    names = [class_names[c] if class_names is not None else str(c) for c in cls]
    rows = [f"{n} ({p:.2f})" for n, p in zip(names, probs, strict=True)]
    return cam_grid_figure(images, columns, row_titles=rows, alpha=alpha, cmap=cmap)
