"""``hrcam evaluate saliency``: COSE and faithfulness for every (model, method), tables and figures.

:func:`evaluate_methods` runs, per model and method: the COSE pair table (13 transforms x magnitudes plus the
model perturbations), the summary (C, F, COSE and the geometric / photometric splits), deletion and insertion
AUC and the masked-image score on the original maps of the correctly classified images, and the time per map.
:func:`cose_heatmap` draws 100 * COSE like the COSE README's table; :func:`transforms_figure` shows one
image's maps under each transform next to the original map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.evaluation.cose.metric import transformed_maps
from hrcam.evaluation.cose.sources import MapSource

__all__ = ["cose_heatmap", "transforms_figure", "format_rows", "write_report", "TABLE_COLUMNS"]

TABLE_COLUMNS = (
    ("cose", "COSE"),
    ("consistency", "C"),
    ("fidelity", "F"),
    ("consistency_geometric", "C geo"),
    ("consistency_photometric", "C pho"),
    ("cose_geometric", "COSE geo"),
    ("cose_photometric", "COSE pho"),
    ("deletion", "del AUC"),
    ("insertion", "ins AUC"),
    ("masked_score", "mask score"),
    ("seconds_per_image", "s/img"),
)


def format_rows(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """A text table: one line per (model, method)."""
    head = f"{'model':<22} {'method':<20}" + "".join(f"{label:>10}" for _, label in TABLE_COLUMNS)
    lines = [head]
    for r in rows:
        cells = []
        for key, _ in TABLE_COLUMNS:
            v = r.get(key, float("nan"))
            scale = 100.0 if key.startswith("cose") else 1.0
            cells.append(f"{scale * v:>10.{4 if key == 'seconds_per_image' else 3}f}")
        lines.append(f"{str(r['model'])[:22]:<22} {str(r['method'])[:20]:<20}" + "".join(cells))
    return lines


def cose_heatmap(rows: Sequence[Mapping[str, Any]], key: str = "cose", title: str | None = None):
    """Seaborn heat map of ``100 * key`` (rows: models, columns: methods, plus a mean row), as the COSE
    README's table. Returns a matplotlib ``Figure``."""
    import pandas as pd
    from matplotlib.figure import Figure

    from hrcam.plotting.charts import percent_heatmap

    df = pd.DataFrame(
        [{"model": r["model"], "method": r["method"], "v": 100.0 * r.get(key, np.nan)} for r in rows]
    )
    table = df.pivot(index="model", columns="method", values="v")
    table = table.loc[list(dict.fromkeys(df["model"])), list(dict.fromkeys(df["method"]))]
    table.loc["mean"] = table.mean(axis=0)
    fig = Figure(figsize=(1.2 * table.shape[1] + 3, 0.6 * table.shape[0] + 2))
    ax = fig.add_subplot()
    percent_heatmap(ax, table.astype(float), f"100 x {key}")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title or f"{key.upper()} (higher is better)")
    return fig


def transforms_figure(source: MapSource, image: np.ndarray, magnitude: float = 2.0 / 3.0):
    """One image's maps under each transform: per column the transformed image, its map, and the map mapped
    back (geometric transforms; outside the validity mask greyed out) next to the original map."""
    from matplotlib.figure import Figure

    from hrcam.plotting.colors import DEFAULT_CMAP

    _, m0 = source(np.asarray(image, np.float32)[None])
    items = transformed_maps(source, image, magnitude=magnitude)
    cols = len(items) + 1
    fig = Figure(figsize=(1.3 * cols, 4.2))
    axes = fig.subplots(3, cols)
    axes[0, 0].imshow(np.clip(image, 0, 1))
    axes[1, 0].imshow(m0[0], cmap=DEFAULT_CMAP, vmin=0, vmax=1)
    axes[2, 0].imshow(m0[0], cmap=DEFAULT_CMAP, vmin=0, vmax=1)
    axes[0, 0].set_title("original", fontsize=7)
    for j, it in enumerate(items, start=1):
        axes[0, j].imshow(np.clip(it["image"], 0, 1))
        axes[0, j].set_title(f"{it['transform']}\npred {it['pred']}", fontsize=7)
        axes[1, j].imshow(it["map"], cmap=DEFAULT_CMAP, vmin=0, vmax=1)
        back = np.where(it["valid"] > 0, it["back"], np.nan)
        axes[2, j].imshow(back, cmap=DEFAULT_CMAP, vmin=0, vmax=1)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].set_ylabel("map", fontsize=8)
    axes[2, 0].set_ylabel("mapped back", fontsize=8)
    fig.suptitle(f"{source.name}: maps under each transform (magnitude {magnitude:+.2f})", fontsize=9)
    return fig


def write_report(
    rows: Sequence[Mapping[str, Any]], out: str | Path, extra: Mapping[str, Any] | None = None
) -> list[Path]:
    """Write ``cose.json`` and ``cose_heatmap.png`` into ``out``; returns the paths."""
    from hrcam.io import write_json
    from hrcam.plotting.charts import save_figure

    out = Path(out)
    paths = [write_json(out / "cose.json", {"results": list(rows), **dict(extra or {})})]
    paths.append(save_figure(cose_heatmap(rows), out / "cose_heatmap.png"))
    return paths
