"""Seaborn charts of metric tables: confusion matrices, method comparisons, training curves.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot global state) and saved atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrcam.io import atomic_path

__all__ = [
    "confusion_matrix_figure",
    "metrics_bar_figure",
    "history_figure",
    "percent_heatmap",
    "save_figure",
]


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix) through a temporary file."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return Path(path)


def confusion_matrix_figure(cm: Any, class_names: list[str], normalize: bool = True) -> Figure:
    """Heat map of a (C, C) confusion matrix (rows: true, columns: predicted), row-normalised by default."""
    import seaborn as sns

    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"`cm` must be (C, C) for {len(class_names)} class names, got shape {cm.shape}")
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(class_names) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    sns.heatmap(
        cm,
        annot=len(class_names) <= 20,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        xticklabels=class_names,
        yticklabels=class_names,
        ax=ax,
        vmin=0,
        vmax=1 if normalize else None,
        cbar=True,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    return fig


def metrics_bar_figure(
    table: dict[str, dict[str, float]], title: str = "", metrics: list[str] | None = None
) -> Figure:
    """Grouped bars: ``table[method][metric] -> value``; one group per metric, one bar per method."""
    import pandas as pd
    import seaborn as sns

    rows = [
        {"method": method, "metric": metric, "value": float(value)}
        for method, scores in table.items()
        for metric, value in scores.items()
        if (metrics is None or metric in metrics) and np.isscalar(value)
    ]
    if not rows:
        raise ValueError("`table` has no scalar metric values to plot")
    frame = pd.DataFrame(rows)
    n_metrics = frame["metric"].nunique()
    fig = Figure(figsize=(max(5.0, 1.2 * n_metrics * max(1, frame["method"].nunique()) / 2), 4))
    ax = fig.add_subplot()
    sns.barplot(data=frame, x="metric", y="value", hue="method", ax=ax)
    ax.set_title(title)
    ax.set_xlabel("")
    ax.legend(fontsize="small")
    return fig


def history_figure(history: dict[str, list[float]], title: str = "") -> Figure:
    """Training curves: one panel for losses, one for the other metrics."""
    fig = Figure(figsize=(10, 3.5))
    axes = fig.subplots(1, 2)
    for key, values in history.items():
        if key == "learning_rate":
            continue
        ax = axes[0] if "loss" in key else axes[1]
        ax.plot(np.arange(1, len(values) + 1), values, label=key, marker="o", markersize=3)
    for ax, name in zip(axes, ("loss", "metrics")):
        ax.set_xlabel("epoch")
        ax.set_title(f"{title} {name}".strip())
        if ax.lines:
            ax.legend(fontsize="small")
    return fig


def percent_heatmap(ax: Any, values: Any, label: str, **kwargs: Any) -> None:
    """A seaborn heatmap of percentages on ``ax``: cells annotated to 0.1, one colour scale from 0 to 100
    (viridis), the colour bar labelled ``label``; ``kwargs`` go to ``seaborn.heatmap`` (tick labels, ...)."""
    import seaborn as sns

    sns.heatmap(
        values,
        annot=True,
        fmt=".1f",
        cmap="viridis",
        vmin=0,
        vmax=100,
        ax=ax,
        cbar_kws={"label": label},
        **kwargs,
    )
