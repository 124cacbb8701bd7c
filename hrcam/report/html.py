"""A :class:`~hrcam.report.build.Report` as one static HTML page: no server, no network.

At the top, the metric table (one row per source, the mean of each score, PxAP pooled; each value links to
the grid sorted by it) and one bar chart per metric (inline SVG), with the colour scale of the maps; below,
the grid of images x sources (the script of :mod:`hrcam.report.static`: sorting, pages, a full-size view).
Overlays are drawn at each image's resolution in hrcam's colour convention (:mod:`hrcam.plotting.colors`);
images are inlined as data URIs, or written to ``<page stem>_files/`` beside the page (``inline=False``, for
hundreds of large images). Grid images load lazily, one page at a time.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP, check_cmap, css_gradient
from hrcam.report.build import Report
from hrcam.report.scores import METRICS
from hrcam.report.static import CSS, JS

__all__ = ["write_report", "render_page", "PNG_MAX_SIDE"]

PNG_MAX_SIDE = 256  # images up to this size are PNG (exact pixels); larger ones JPEG (quality 90)
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


class _Images:
    """Encodes images once each: data URIs, or files in ``folder`` referenced relative to the page."""

    def __init__(self, folder: Path | None, page_dir: Path) -> None:
        self.folder, self.page_dir, self.count = folder, page_dir, 0
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def add(self, rgb: np.ndarray, name: str) -> str:
        from PIL import Image

        buf = io.BytesIO()
        small = max(rgb.shape[:2]) <= PNG_MAX_SIDE
        Image.fromarray(rgb).save(
            buf, format="PNG" if small else "JPEG", **({} if small else {"quality": 90})
        )
        ext, mime = ("png", "image/png") if small else ("jpg", "image/jpeg")
        self.count += 1
        if self.folder is None:
            return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        from hrcam.io import atomic_path

        path = self.folder / f"{self.count:05d}_{name}.{ext}"
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())
        return path.relative_to(self.page_dir).as_posix()

    def entry(self, rgb: np.ndarray, name: str, thumb: int) -> dict[str, Any]:
        """``{"src": thumbnail, "full": full size (when larger), "px": crisp upscaling}``."""
        h, w = rgb.shape[:2]
        out: dict[str, Any] = {"px": max(h, w) < thumb}
        if max(h, w) <= thumb:
            out["src"] = self.add(rgb, name)
            return out
        from PIL import Image

        scale = thumb / max(h, w)
        small = Image.fromarray(rgb).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS
        )
        out["src"] = self.add(np.asarray(small), name + "_thumb")
        out["full"] = self.add(rgb, name)
        return out


def _finite(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def _data(report: Report, images: _Images, page_size: int, thumb: int, cmap: str, alpha: float) -> dict:
    from hrcam.plotting.overlays import overlay

    ims, metrics = report.images, report.metrics()
    first = report.columns[0]
    rows = []
    for i in range(len(ims)):
        shown = ims.shown(i)
        label = None if ims.labels is None else int(ims.labels[i])
        pred = int(first.preds[i])
        row = {
            "i": i,
            "name": ims.names[i],
            "label_name": ims.class_name(label),
            "pred_name": ims.class_name(pred),
            "prob": round(float(first.probs[i]), 4),
            "correct": None if label is None else bool(pred == label),
            "explained_name": ims.class_name(int(first.classes[i])),
            "image": images.entry(shown, f"{i:04d}_image", thumb),
            "cells": {},
        }
        for col in report.columns:
            drawn = overlay(shown, col.maps[i].astype(np.float32) / 255.0, alpha=alpha, cmap=cmap)
            cell = images.entry(drawn, f"{i:04d}_{col.key}", thumb)
            cell["scores"] = {m: _finite(col.scores[m][i]) for m in metrics}
            if int(col.classes[i]) != int(first.classes[i]):
                cell["note"] = f"map of {ims.class_name(int(col.classes[i]))}"
            if int(col.preds[i]) != pred:
                cell["note"] = (
                    cell.get("note", "") + f" predicted {ims.class_name(int(col.preds[i]))}"
                ).strip()
            row["cells"][col.key] = cell
        rows.append(row)
    return {
        "columns": [{"key": c.key, "title": c.title} for c in report.columns],
        "metrics": [{"key": m, "label": METRICS[m].label, "help": METRICS[m].help} for m in metrics],
        "rows": rows,
        "page_size": page_size,
        "has_labels": ims.labels is not None,
    }


def _table(report: Report) -> str:
    e = html.escape
    metrics = report.metrics()
    keys = (["top1"] if report.images.labels is not None else []) + metrics
    labels = {"top1": "top-1", **{m: METRICS[m].label for m in metrics}}
    better = {"top1": "higher", **{m: METRICS[m].better for m in metrics}}
    helps = {"top1": "accuracy of the classifier", **{m: METRICS[m].help for m in metrics}}
    arrows = {"higher": "&uarr;", "lower": "&darr;"}
    head = "".join(f"<th title='{e(helps[k])}'>{e(labels[k])} {arrows[better[k]]}</th>" for k in keys)
    best = {}
    for k in keys:
        values = [c.summary.get(k, np.nan) for c in report.columns]
        finite = [v for v in values if np.isfinite(v)]
        if len(set(finite)) > 1:  # a best value, not a tie of all
            best[k] = max(finite) if better[k] == "higher" else min(finite)
    body = []
    for c in report.columns:
        cells = [f"<td>{e(c.title)}<div class='note'>{e(c.spec)}</div></td>"]
        for k in keys:
            v = c.summary.get(k, np.nan)
            text = "n/a" if not np.isfinite(v) else f"{v:.3f}"
            cls = " class='best'" if k in best and np.isfinite(v) and v == best[k] else ""
            if k in METRICS:
                order = "desc" if better[k] == "higher" else "asc"
                text = f"<a href='#sort={e(c.key)}:{k}&amp;order={order}&amp;page=1'>{text}</a>"
            cells.append(f"<td{cls}>{text}</td>")
        cells.append(f"<td>{c.seconds:.2f}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table class='metrics' id='metrics'><thead><tr><th>map source</th>"
        f"{head}<th title='making the source and its maps, tracing included'>seconds</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _chart(report: Report, metric: str) -> str:
    """A horizontal bar chart (SVG) of one metric's summary over the sources, on [0, 1]."""
    e = html.escape
    m = METRICS.get(metric)
    label = "top-1" if m is None else m.label
    arrow = "&uarr;" if m is None or m.better == "higher" else "&darr;"
    bar_w, row_h, left = 160, 18, 130
    height = 26 + row_h * len(report.columns)
    parts = [
        f"<svg width='{left + bar_w + 50}' height='{height}' "
        f"role='img' data-metric='{metric}'><title>{e(label)}</title>",
        f"<text x='8' y='16' font-size='12' font-weight='600'>{e(label)} {arrow}</text>",
    ]
    for j, c in enumerate(report.columns):
        v = c.summary.get(metric, np.nan)
        y = 24 + j * row_h
        w = 0 if not np.isfinite(v) else max(0.0, min(1.0, v)) * bar_w
        parts.append(
            f"<text x='{left - 6}' y='{y + 12}' font-size='11' text-anchor='end'>{e(c.title[:22])}</text>"
        )
        parts.append(
            f"<rect x='{left}' y='{y + 2}' width='{w:.1f}' height='{row_h - 5}' "
            f"fill='{PALETTE[j % len(PALETTE)]}'/>"
        )
        text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
        parts.append(f"<text x='{left + w + 4:.1f}' y='{y + 12}' font-size='11'>{text}</text>")
    return "".join(parts) + "</svg>"


def _legend(cmap: str, alpha: float) -> str:
    return (
        f"<div class='legend' id='legend'><h2>Colour scale</h2><div class='bar' style='background: "
        f"{css_gradient(cmap)}'></div><div class='ticks'><span>0 (low)</span><span>0.5</span>"
        f"<span>1 (high)</span></div><p class='note'>{html.escape(cmap)}, perceptually uniform; each map is "
        f"scaled to [0, 1] and drawn over its image with weight {alpha:g} at the image's resolution."
        "</p></div>"
    )


def render_page(
    report: Report,
    images: _Images | None = None,
    page_size: int = 25,
    thumb: int = 128,
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
) -> str:
    """The page's HTML (images inlined unless ``images`` writes them to files)."""
    e = html.escape
    images = images or _Images(None, Path("."))
    data = _data(report, images, page_size, thumb, check_cmap(cmap), alpha)
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")
    meta = report.meta
    sub = (
        f"{len(report.images)} images, {len(report.columns)} map sources; maps of the "
        f"{'true' if report.target == 'label' else 'predicted'} class; model {e(str(meta.get('model')))}; "
        f"hrcam {e(str(meta.get('hrcam')))}, {e(str(meta.get('created')))}"
    )
    charts = [_chart(report, "top1")] if report.images.labels is not None else []
    charts += [_chart(report, m) for m in report.metrics()]
    steps = meta.get("faithfulness_steps")
    notes = "".join(
        f"<li><b>{e(METRICS[m].label)}</b>: {e(METRICS[m].help)}"
        + (f" ({steps} steps)" if m in ("deletion", "insertion") else "")
        + "</li>"
        for m in report.metrics()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hrcam {e(str(meta.get("hrcam")))}"><title>{e(report.title)}</title>
<style>{CSS}</style></head>
<body style="--thumb: {thumb}px">
<header><h1>{e(report.title)}</h1><p class="meta">{sub}</p></header>
<section class="top"><div><h2>Scores (mean per image; PxAP pooled over all pixels)</h2>{_table(report)}
<ul class="note">{notes}</ul></div>{_legend(cmap, alpha)}</section>
<section><div class="charts" id="charts">{"".join(charts)}</div></section>
<section><h2>Images</h2>
<div class="controls"><label>sort by <select id="sort-key"></select></label>
<button id="sort-order" type="button">ascending</button><nav class="pager" id="pager"></nav>
<span class="note" id="showing"></span></div>
<noscript><p>The image grid needs JavaScript.</p></noscript>
<table class="grid" id="grid"><thead><tr><th>image</th>{
        "".join(f'<th data-source="{e(c.key)}">{e(c.title)}</th>' for c in report.columns)
    }</tr></thead><tbody id="rows"></tbody></table></section>
<div id="lightbox"></div>
<script type="application/json" id="report-data">{payload}</script>
<script>{JS}</script>
</body></html>
"""


def write_report(
    report: Report,
    path: str | Path,
    *,
    inline: bool = True,
    page_size: int = 25,
    thumb: int = 128,
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
) -> Path:
    """Write the page to ``path`` (atomically); with ``inline=False`` the images go to ``<stem>_files/``.

    ``page_size``: images per page of the grid; ``thumb``: the thumbnails' size in px (larger images get a
    thumbnail and a full-size view); ``cmap``, ``alpha``: the overlays (hrcam's convention by default).
    """
    from hrcam.io import write_text

    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"`page_size` must be a positive int, got {page_size!r}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}")
    path = Path(path)
    folder = None if inline else path.parent / f"{path.stem}_files"
    images = _Images(folder, path.parent)
    return write_text(path, render_page(report, images, page_size, thumb, cmap, float(alpha)))
