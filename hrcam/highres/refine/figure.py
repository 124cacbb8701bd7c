"""The refinement pipeline's step-by-step figure, :func:`plot_pipeline` (the original's
``utils/plotting.py::pipeline``; renamed so the figure and the computation no longer share a name).

Unlike the original, which recomputed every step itself, the figure is drawn from the dict that
:func:`hrcam.highres.refine.pipeline` returns: what you see is exactly what the pipeline computed. No
pyplot state is touched; the result is a ``matplotlib.figure.Figure`` (``fig.savefig(path)`` renders it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from hrcam.arrays import to_array
from hrcam.highres.refine.core import pipeline as run_pipeline
from hrcam.highres.refine.params import STEP_KEYS
from hrcam.plotting.colors import DEFAULT_CMAP

__all__ = ["plot_pipeline", "PANELS"]

PANELS = (
    "Original image",
    "High-res CAM",
    "Low-res CAM",
    "Blurred",
    "Region of interest",
    "Focal points",
    "Edge detection",
    "Edge histogram",
    "Region growing",
    "Holes filled",
    "High-low merger",
    "Result",
)


def _single(x: Any, name: str, ndim: int) -> np.ndarray:
    arr = to_array(x, name)
    if arr.ndim == ndim + 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != ndim:
        raise ValueError(
            f"`{name}` must be one image's array with {ndim} dimensions (or a batch of 1), "
            f"got shape {arr.shape}"
        )
    return arr


def _display_image(img: Any) -> np.ndarray:
    arr = _single(img, "img", 3)
    if arr.dtype.kind in "ui":
        arr = arr.astype(np.float32) / 255.0
    arr = np.clip(arr.astype(np.float32), 0, 1)
    return arr[..., 0] if arr.shape[-1] == 1 else arr[..., :3]


def plot_pipeline(
    img: Any,
    low: Any,
    high: Any,
    steps: Mapping[str, Any] | None = None,
    *,
    cmap: str = DEFAULT_CMAP,
    panel_size: float = 3.0,
    arrows: bool = True,
    **params: Any,
) -> Figure:
    """Draw the refinement pipeline step by step: 12 panels in a 3 x 4 grid, joined by arrows.

    Panels: original image, high-res CAM, low-res CAM, blurred, region of interest, focal points,
    edge detection (Sobel gradient), edge histogram (gradient inside the ROI, with the lower/upper
    region-growing bounds), region growing, holes filled (with the edges added inside the ROI), high-low
    merger (the refined CAM) and result (the filtered image).

    Args:
        img: one image (H, W, C) or (1, H, W, C), uint8 or float in [0, 1].
        low: its low-res CAM (h, w). high: its high-res CAM (H, W).
        steps: the dict :func:`hrcam.highres.refine.pipeline` returned for this image; None: it is
            computed here, once, with ``**params``.
        cmap: colormap of the CAM panels.
        panel_size: inches per panel.
        arrows: join consecutive panels of a row with arrows, as the original figure.
        **params: parameters of :func:`hrcam.highres.refine.pipeline` (only when ``steps`` is None).

    Returns:
        A ``matplotlib.figure.Figure`` with 12 axes titled as :data:`PANELS`.
    """
    if steps is None:
        steps = run_pipeline(img, low, high, **params)
    elif params:
        raise ValueError(
            f"pipeline parameters {sorted(params)} are only used when `steps` is None; "
            "`steps` was already computed with its own parameters"
        )
    missing = set(STEP_KEYS) - {"edges"} - set(steps)  # every step the panels draw
    if missing:
        raise ValueError(
            f"`steps` lacks {sorted(missing)}; pass the dict returned by hrcam.highres.refine.pipeline"
        )
    merged = np.asarray(steps["merged"])
    if merged.ndim != 2:
        raise ValueError(
            f"`steps` must be one image's steps (merged (H, W)), got merged of shape {merged.shape}; "
            "for a batch, run the pipeline on one image"
        )
    image = _display_image(img)
    high_map = _single(high, "high", 2)
    gradient = np.asarray(steps["gradient"])
    roi = np.asarray(steps["roi"], dtype=bool)
    lower, upper = (float(v) for v in np.asarray(steps["bounds"]).ravel()[:2])
    points = np.asarray(steps["focal_points"]).reshape(-1, 2)

    fig = Figure(figsize=(4 * panel_size, 3 * panel_size + 0.3), layout="constrained")
    axes = fig.subplots(3, 4)
    ax = axes.ravel()

    def show(a, data, title, **kw):
        a.imshow(data, **kw)
        a.set_title(title, fontsize=10)
        a.set_xticks([])
        a.set_yticks([])

    show(ax[0], image, PANELS[0], cmap="gray" if image.ndim == 2 else None)
    show(ax[1], high_map, PANELS[1], cmap=cmap)
    show(ax[2], np.asarray(steps["low"]), PANELS[2], cmap=cmap, interpolation="nearest")
    show(ax[3], np.asarray(steps["blurred"]), PANELS[3], cmap=cmap)
    show(ax[4], image, PANELS[4], cmap="gray" if image.ndim == 2 else None)
    ax[4].imshow(np.ma.masked_where(~roi, roi.astype(float)), cmap="autumn", alpha=0.45, vmin=0, vmax=1)
    show(ax[5], np.asarray(steps["low_resized"]), PANELS[5], cmap=cmap)
    if len(points):
        ax[5].scatter(points[:, 0], points[:, 1], s=12, c="white", edgecolors="black", linewidths=0.5)
    show(ax[6], gradient, PANELS[6], cmap="gray")

    import seaborn as sns  # imported here: seaborn pulls in pyplot, which the rest of hrcam avoids

    values = gradient[roi] if roi.any() else gradient.ravel()
    sns.histplot(
        values,
        bins=50,
        kde=values.size > 1 and np.ptp(values) > 0,
        stat="density",
        ax=ax[7],
        color="tab:blue",
        edgecolor=None,
    )
    ax[7].axvline(lower, color="tab:green", linestyle="--", label=f"lower {lower:.3f}")
    ax[7].axvline(upper, color="tab:red", linestyle="--", label=f"upper {upper:.3f}")
    ax[7].set_title(PANELS[7], fontsize=10)
    ax[7].set_xlabel(
        "gradient inside the ROI" if roi.any() else "gradient (empty ROI: whole image)", fontsize=8
    )
    ax[7].tick_params(labelsize=7)
    ax[7].legend(fontsize=7)

    show(ax[8], np.asarray(steps["segmented"], dtype=float), PANELS[8], cmap="gray", vmin=0, vmax=1)
    show(ax[9], np.asarray(steps["full_segment"], dtype=float), PANELS[9], cmap="gray", vmin=0, vmax=1)
    show(ax[10], merged, PANELS[10], cmap=cmap, vmin=0, vmax=1)
    result = np.clip(np.asarray(steps["result"], dtype=np.float32), 0, 1)
    show(
        ax[11],
        result[..., 0] if result.shape[-1] == 1 else result[..., :3],
        PANELS[11],
        cmap="gray" if result.shape[-1] == 1 else None,
    )

    if arrows:
        for row in range(3):
            for col in range(3):
                a, b = axes[row, col], axes[row, col + 1]
                fig.add_artist(
                    ConnectionPatch(
                        xyA=(1.0, 0.5),
                        coordsA=a.transAxes,
                        xyB=(0.0, 0.5),
                        coordsB=b.transAxes,
                        arrowstyle="-|>",
                        color="0.4",
                        linewidth=1.2,
                        mutation_scale=12,
                    )
                )
    return fig
