"""``hrcam evaluate saliency``: COSE and faithfulness for every (model, method), tables and figures.

:func:`evaluate_methods` runs, per model and method: the COSE pair table (13 transforms x magnitudes plus the
model perturbations), the summary (C, F, COSE and the geometric / photometric splits), deletion and insertion
AUC and the masked-image score on the original maps of the correctly classified images, and the time per map.
:func:`cose_heatmap` draws 100 * COSE like the COSE README's table; :func:`transforms_figure` shows one
image's maps under each transform next to the original map.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.evaluation.cose import transforms as T
from hrcam.evaluation.cose.faithfulness import deletion_insertion, masked_saliency_score
from hrcam.evaluation.cose.metric import cose_bootstrap, cose_summary, cose_table, transformed_maps
from hrcam.evaluation.cose.sources import MapSource, method_source, probability_fn

__all__ = ["evaluate_methods", "cose_heatmap", "transforms_figure", "format_rows", "TABLE_COLUMNS"]

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
    import seaborn as sns
    from matplotlib.figure import Figure

    df = pd.DataFrame(
        [{"model": r["model"], "method": r["method"], "v": 100.0 * r.get(key, np.nan)} for r in rows]
    )
    table = df.pivot(index="model", columns="method", values="v")
    table = table.loc[list(dict.fromkeys(df["model"])), list(dict.fromkeys(df["method"]))]
    table.loc["mean"] = table.mean(axis=0)
    fig = Figure(figsize=(1.2 * table.shape[1] + 3, 0.6 * table.shape[0] + 2))
    ax = fig.add_subplot()
    sns.heatmap(
        table.astype(float),
        annot=True,
        fmt=".1f",
        cmap="viridis",
        vmin=0,
        vmax=100,
        ax=ax,
        cbar_kws={"label": f"100 x {key}"},
    )
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title or f"{key.upper()} (higher is better)")
    return fig


def transforms_figure(source: MapSource, image: np.ndarray, magnitude: float = 2.0 / 3.0):
    """One image's maps under each transform: per column the transformed image, its map, and the map mapped
    back (geometric transforms; outside the validity mask greyed out) next to the original map."""
    from matplotlib.figure import Figure

    _, m0 = source(np.asarray(image, np.float32)[None])
    items = transformed_maps(source, image, magnitude=magnitude)
    cols = len(items) + 1
    fig = Figure(figsize=(1.3 * cols, 4.2))
    axes = fig.subplots(3, cols)
    axes[0, 0].imshow(np.clip(image, 0, 1))
    axes[1, 0].imshow(m0[0], cmap="jet", vmin=0, vmax=1)
    axes[2, 0].imshow(m0[0], cmap="jet", vmin=0, vmax=1)
    axes[0, 0].set_title("original", fontsize=7)
    for j, it in enumerate(items, start=1):
        axes[0, j].imshow(np.clip(it["image"], 0, 1))
        axes[0, j].set_title(f"{it['transform']}\npred {it['pred']}", fontsize=7)
        axes[1, j].imshow(it["map"], cmap="jet", vmin=0, vmax=1)
        back = np.where(it["valid"] > 0, it["back"], np.nan)
        axes[2, j].imshow(back, cmap="jet", vmin=0, vmax=1)
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
