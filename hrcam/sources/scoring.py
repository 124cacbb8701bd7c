"""``hrcam score``'s engine: map sources of :mod:`hrcam.sources`, by name, scored against ground truth.

Every source is scored the same way (``center``, ``ones``, ``cam``, ``high_res_cam``, ``guided_cam``,
``refined``, ``gradcam``, ``casm:masker=M.keras``, ...; options as ``NAME:key=value,key=value``): (N, H, W)
maps at the images' resolution for the target class of each image, the ground-truth class (default, the
weakly supervised localisation protocol) or the predicted one, scored by
:func:`hrcam.evaluation.scoring.score_maps` and :func:`hrcam.evaluation.mask_stats.mask_statistics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrcam.evaluation.mask_stats import mask_statistics
from hrcam.evaluation.scoring import ScoringData, score_maps
from hrcam.sources import get, option_names

__all__ = ["method_maps", "score_methods"]


def method_maps(
    method: str,
    model: Any,
    images: np.ndarray,
    targets: np.ndarray,
    *,
    workers: int | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """(N, H, W) float32 maps of the map source ``method`` (a :mod:`hrcam.sources` spec) on ``model`` for
    ``targets`` (N,), at the images' resolution.

    ``workers`` goes to sources that take it (``refined``); ``model`` is whatever the source needs (a
    HalfModel / FullModel / Keras classifier, or None for ``casm``).
    """
    options: dict[str, Any] = {"batch_size": batch_size}
    if "workers" in option_names(method):
        options["workers"] = workers
    return np.asarray(get(method, model, **options).run(images, targets).maps, np.float32)


def score_methods(
    model: Any,
    data: ScoringData,
    methods: list[str],
    *,
    target: str = "label",
    workers: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Scores of every method in ``methods`` (see the module docstring).

    Returns ``{"methods": {name: {metric: value}}, "top1_accuracy": float, "num_images": N, "target": ...}``.
    """
    if target not in ("label", "predicted"):
        raise ValueError(f"`target` must be 'label' or 'predicted', got {target!r}")
    if not methods:
        raise ValueError("`methods` is empty: name at least one map source (e.g. cam, high_res_cam, center)")
    labels = np.asarray(data.labels)
    table, top1 = {}, {}
    for method in methods:
        if progress:
            print(f"[hrcam score] {method} ...", flush=True)
        options: dict[str, Any] = {"batch_size": batch_size}
        if "workers" in option_names(method):
            options["workers"] = workers
        source = get(method, model, **options)
        # each source's own predictions: OM is scored with the classifier the maps come from (a CASM
        # masker carries its own), and target="predicted" explains that classifier's class
        res = source.run(data.images, labels if target == "label" else None)
        correct = np.asarray(res.preds).argmax(1) == labels
        maps = np.clip(np.asarray(res.maps, np.float32), 0.0, 1.0)
        table[method] = {**score_maps(maps, data, correct), **mask_statistics(maps)}
        table[method]["top1"] = top1[method] = float(correct.mean())
    return {
        "methods": table,
        "top1_accuracy": next(iter(top1.values())),
        "num_images": int(len(labels)),
        "target": target,
    }
