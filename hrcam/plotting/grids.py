"""Grids of images and their maps: one row per image, one column per method."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP

__all__ = ["cam_grid_figure"]


def cam_grid_figure(
    images: Any,
    columns: dict[str, Any],
    row_titles: list[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    cmap: str = DEFAULT_CMAP,
) -> Figure:
    """Rows: images; first column the image, then one overlay per entry of ``columns``.

    Args:
        images: (N, H, W, 3) uint8 or float in [0, 1].
        columns: title -> (N, h, w) maps in [0, 1] (resized to the image for display).
        row_titles: optional N labels drawn on the left.
    """
    from hrcam.plotting.overlays import overlay

    images = np.asarray(images)
    n = images.shape[0]
    for title, maps in columns.items():
        if np.shape(maps)[0] != n:
            raise ValueError(f"column {title!r} has {np.shape(maps)[0]} maps for {n} images")
    ncols = 1 + len(columns)
    fig = Figure(figsize=(1.8 * ncols, 1.8 * n + 0.4))
    axes = np.asarray(fig.subplots(n, ncols, squeeze=False))
    for i in range(n):
        axes[i, 0].imshow(images[i])
        for j, (title, maps) in enumerate(columns.items(), start=1):
            axes[i, j].imshow(overlay(images[i], np.asarray(maps[i]), alpha=alpha, cmap=cmap))
            if i == 0:
                axes[i, j].set_title(title, fontsize=8)
        if i == 0:
            axes[i, 0].set_title("image", fontsize=8)
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
