"""hrcam's one convention for reading maps: a perceptually uniform colour map, the same everywhere.

Every map hrcam draws (PNG overlays, ``hrcam explain``, figures, the HTML report, TensorBoard map summaries,
the notebooks) uses :data:`DEFAULT_CMAP` unless a caller asks for another: ``inferno``, perceptually uniform
(equal steps in the map are equal steps in lightness, so no false edges appear, and it reads in greyscale and
for colour-blind readers), dark for 0 and bright yellow-white for 1, so the salient region stands out of the
darkened image. ``jet`` (the seeds' choice) is available on request (``cmap="jet"``, ``--cmap jet``).

An overlay is ``(1 - alpha) * image + alpha * cmap(map)`` with the map in [0, 1] (min-max scaled per map)
and ``alpha`` :data:`DEFAULT_ALPHA`; the colour scale legend of the report is :func:`css_gradient`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_CMAP", "DEFAULT_ALPHA", "check_cmap", "color_table", "apply_cmap", "css_gradient"]

DEFAULT_CMAP = "inferno"
"""The colour map of every map hrcam draws (perceptually uniform); ``"jet"`` only on request."""

DEFAULT_ALPHA = 0.5
"""Weight of the colour-mapped map in an overlay."""


def check_cmap(cmap: str) -> str:
    """``cmap`` if matplotlib knows it; ValueError naming the argument and a few choices otherwise."""
    from matplotlib import colormaps

    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(
            f"`cmap` must be a matplotlib colormap name (e.g. {DEFAULT_CMAP!r}, 'viridis', 'jet'), "
            f"got {cmap!r}"
        )
    return cmap


def color_table(cmap: str = DEFAULT_CMAP, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 RGB of ``cmap`` at ``n`` evenly spaced values in [0, 1] (a lookup table)."""
    from matplotlib import colormaps

    rgb = colormaps[check_cmap(cmap)](np.linspace(0.0, 1.0, n))[:, :3]
    return np.round(rgb * 255.0).astype(np.uint8)


def apply_cmap(values: np.ndarray, cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """(..., 3) float32 RGB in [0, 1] of ``values`` in [0, 1] (clipped) under ``cmap``."""
    from matplotlib import colormaps

    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    return colormaps[check_cmap(cmap)](v)[..., :3].astype(np.float32)


def css_gradient(cmap: str = DEFAULT_CMAP, stops: int = 11, direction: str = "to right") -> str:
    """A CSS ``linear-gradient(...)`` of ``cmap`` from 0 to 1 with ``stops`` colours (a colour scale)."""
    table = color_table(cmap, stops)
    parts = [f"#{r:02x}{g:02x}{b:02x} {100 * i / (stops - 1):.0f}%" for i, (r, g, b) in enumerate(table)]
    return f"linear-gradient({direction}, {', '.join(parts)})"
