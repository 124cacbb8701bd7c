"""``hrcam report``: one static HTML page comparing map sources on a set of images, for the eye first.

A grid of images x map sources (any of :mod:`hrcam.sources`, by name): each map drawn over its image at the
image's resolution, the prediction and the true class where known, the per-image scores the ground truth
allows (IoU and PxAP with exact masks, box IoU with boxes, deletion / insertion AUC always), the metric table
and charts at the top, sortable by any score, with the colour scale; self-contained (no server, no network)::

    from hrcam.report import from_synthetic, make_report

    images = from_synthetic(24, image_size=64, num_classes=6)
    make_report(model, images, ["cam", "gradcam", "high_res_cam"], "report.html")

Layers: :mod:`~hrcam.report.images` (what is shown and known), :mod:`~hrcam.report.build` (runs the sources,
scores the maps: :func:`build_report`), :mod:`~hrcam.report.html` (the page: :func:`write_report`). It sits
above :mod:`hrcam.sources`; nothing in hrcam below the commands imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hrcam.report.build import Column, Report, build_report
from hrcam.report.html import write_report
from hrcam.report.images import ReportImages, from_files, from_folder, from_synthetic

__all__ = [
    "Column",
    "Report",
    "ReportImages",
    "build_report",
    "write_report",
    "make_report",
    "from_files",
    "from_folder",
    "from_synthetic",
]


def make_report(
    model: Any,
    images: ReportImages,
    sources: Sequence[str] | Mapping[str, Any],
    out: str | Path,
    *,
    inline: bool = True,
    page_size: int = 25,
    cmap: str | None = None,
    alpha: float | None = None,
    **build_options: Any,
) -> dict[str, Any]:
    """:func:`build_report` then :func:`write_report` to ``out``; returns the summary (``to_json``) with the
    page's path under ``"report"``. ``build_options``: ``target``, ``steps``, ``batch_size``, ``title``,
    ``options``, ``log``."""
    from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP

    report = build_report(model, images, sources, **build_options)
    path = write_report(
        report,
        out,
        inline=inline,
        page_size=page_size,
        cmap=cmap or DEFAULT_CMAP,
        alpha=DEFAULT_ALPHA if alpha is None else alpha,
    )
    return {**report.to_json(), "report": str(path)}
