"""Run map sources on a set of images and score every map: the content of a report, without the page."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.report.images import ReportImages
from hrcam.report.scores import image_scores, summarise

__all__ = ["Column", "Report", "build_report", "TARGETS"]

TARGETS = ("label", "predicted")


@dataclass
class Column:
    """One map source of a report.

    Attributes:
        key: a short id (URL fragments, DOM); title: the column heading; spec: what made it; name: the
            source's own name; seconds: time to make the source and its maps (tracing included).
        classes: (N,) explained classes; preds: (N,) predicted classes and probs (N,) their probability
            (this source's classifier); maps: (N, H, W) uint8 (the [0, 1] maps times 255, at the model's
            input size).
        scores: ``{metric: (N,)}``; summary: ``{metric: mean}`` (PxAP pooled), with ``top1`` where labels
            are known.
    """

    key: str
    title: str
    spec: str
    name: str
    seconds: float
    classes: np.ndarray
    preds: np.ndarray
    probs: np.ndarray
    maps: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    """Everything a report page shows: the images, one :class:`Column` per source, and what was run."""

    title: str
    images: ReportImages
    columns: list[Column]
    target: str
    meta: dict[str, Any]

    def metrics(self) -> list[str]:
        """The metrics every column has, in :data:`hrcam.report.scores.METRICS` order."""
        from hrcam.report.scores import METRICS

        have = set.intersection(*(set(c.scores) for c in self.columns)) if self.columns else set()
        return [k for k in METRICS if k in have]

    def to_json(self) -> dict[str, Any]:
        """The summary tables (JSON-ready; NaN as None)."""

        def clean(v: float) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), 5)

        return {
            "title": self.title,
            "num_images": len(self.images),
            "target": self.target,
            "sources": {
                c.title: {
                    "spec": c.spec,
                    "seconds": round(c.seconds, 3),
                    **{k: clean(v) for k, v in c.summary.items()},
                }
                for c in self.columns
            },
            **self.meta,
        }


def _slug(text: str, taken: set[str]) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_") or "source"
    while "__" in base:
        base = base.replace("__", "_")
    key, i = base, 2
    while key in taken:
        key, i = f"{base}_{i}", i + 1
    taken.add(key)
    return key


def _titles(sources: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(sources, Mapping):
        items = {str(k): v for k, v in sources.items()}
    else:
        from hrcam.sources import label

        specs = [sources] if isinstance(sources, str) else list(sources)
        names = [label(s) for s in specs]
        items = {(n if names.count(n) == 1 else s): s for n, s in zip(names, specs, strict=True)}
    if not items:
        raise ValueError("`sources` is empty: name at least one map source (e.g. 'gradcam')")
    return items


def build_report(
    model: Any,
    images: ReportImages,
    sources: Sequence[str] | Mapping[str, Any],
    *,
    target: str = "label",
    steps: int = 16,
    batch_size: int = 32,
    title: str | None = None,
    options: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Run every source on ``images`` and score its maps.

    Args:
        model: what the sources are made on (a HalfModel, FullModel, Keras classifier, ``.keras`` path; None
            for sources that carry their own classifier).
        images: a :class:`~hrcam.report.images.ReportImages`.
        sources: map-source specs of :mod:`hrcam.sources` (``["cam", "gradcam", "casm:masker=M.keras"]``),
            or ``{title: spec or a made source}``.
        target: the class each map explains: ``"label"`` (the true class; the predicted one without labels)
            or ``"predicted"``.
        steps: deletion / insertion curve steps (0: no faithfulness scores).
        options: given to every source made from a spec that takes them (e.g. ``{"workers": 0}``).
        log: called with progress lines.
    """
    from hrcam import sources as registry

    if target not in TARGETS:
        raise ValueError(f"`target` must be one of {TARGETS}, got {target!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"`steps` must be an int >= 0, got {steps!r}")
    used = "label" if target == "label" and images.labels is not None else "predicted"
    targets = images.labels if used == "label" else None
    x, taken, columns = images.images, set(), []
    if isinstance(model, (str, Path)):
        from hrcam.highres.loading import load_model

        model = load_model(model)
    for heading, spec in _titles(sources).items():
        if log:
            log(f"{heading} ...")
        start = time.perf_counter()
        if isinstance(spec, str):
            accepted = registry.option_names(spec)
            extra = {k: v for k, v in {"batch_size": batch_size, **(options or {})}.items() if k in accepted}
            source = registry.get(spec, model, **extra)
        else:
            source, spec = spec, getattr(spec, "name", heading)
        res = source.run(x, targets)
        maps = np.asarray(res.maps, np.float32)
        if maps.ndim == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        if maps.shape != x.shape[:3]:
            raise ValueError(
                f"source {heading!r} gave maps of shape {maps.shape}; a report needs (N, H, W) 2D maps"
            )
        seconds = time.perf_counter() - start
        preds = np.asarray(res.preds, np.float64)
        classes = np.asarray(res.classes).reshape(len(x), -1)[:, 0]
        scores = image_scores(
            maps,
            classes,
            x,
            lambda batch, s=source: s.predict(np.asarray(batch)),
            masks=images.masks,
            boxes=images.boxes,
            steps=steps,
            batch_size=batch_size,
        )
        summary = summarise(scores, maps, images.masks)
        predicted = preds.argmax(1)
        if images.labels is not None:
            summary["top1"] = float(np.mean(predicted == images.labels))
        columns.append(
            Column(
                _slug(heading, taken),
                heading,
                str(spec),
                str(getattr(source, "name", heading)),
                seconds,
                classes,
                predicted,
                preds[np.arange(len(x)), predicted],
                np.round(np.clip(maps, 0.0, 1.0) * 255.0).astype(np.uint8),
                scores,
                summary,
            )
        )
    from hrcam import __version__

    meta = {
        "model": getattr(model, "name", None),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "hrcam": __version__,
        "faithfulness_steps": steps,
    }
    return Report(title or "hrcam map report", images, columns, used, meta)
