"""The class-specificity matrix as a seaborn heatmap (one per method)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["specificity_heatmap", "save_specificity_heatmaps"]


def specificity_heatmap(matrix: Any, class_names: list[str], title: str = ""):
    """A matplotlib figure: rows = target class t, columns = mask class k, cells = mean softmax_t in %."""
    import matplotlib.pyplot as plt

    from hrcam.plotting.charts import percent_heatmap

    m = 100 * np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(class_names):
        raise ValueError(
            f"`matrix` must be (K, K) with K={len(class_names)} class names, got shape {m.shape}"
        )
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(class_names), 0.8 + 0.8 * len(class_names)))
    percent_heatmap(
        ax, m, "softmax of target (%)", square=True, xticklabels=class_names, yticklabels=class_names
    )
    ax.set_xlabel("mask of class")
    ax.set_ylabel("target class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_specificity_heatmaps(
    matrices: dict[str, Any], class_names: list[str], out_dir: str | Path
) -> list[Path]:
    """Write ``OUT/specificity_<method>.png`` for each method's matrix; returns the paths."""
    import matplotlib.pyplot as plt

    from hrcam.plotting.charts import save_figure

    paths = []
    for name, matrix in matrices.items():
        fig = specificity_heatmap(matrix, class_names, f"class specificity: {name}")
        path = Path(out_dir) / f"specificity_{name}.png"
        save_figure(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths
