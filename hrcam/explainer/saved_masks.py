"""Per-image mask files, as the original Explainer saves them (``save_mask``): one 8-bit greyscale PNG per
image and method, plus one PNG per labelled class (NumPy + PIL; every file written atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.io import atomic_path

__all__ = ["image_stems", "save_mask_pngs"]


def image_stems(files: Sequence[str | os.PathLike] | None, n: int) -> list[str]:
    """File stems of the images (``000005`` for ``.../JPEGImages/000005.jpg``), made unique with the image
    index where two files share a stem; ``000000``, ``000001``, ... without files (synthetic scenes)."""
    if files is None:
        return [f"{i:06d}" for i in range(n)]
    stems = [Path(f).stem for f in files]
    if len(set(stems)) < len(stems):
        stems = [f"{i:06d}_{s}" for i, s in enumerate(stems)]
    return stems


def _png(path: Path, mask: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8), mode="L").save(
            tmp, format="PNG"
        )


def save_mask_pngs(
    out_dir: str | os.PathLike,
    method: str,
    stems: Sequence[str],
    merged: Any,
    per_class: Any = None,
    labels: Any = None,
    class_names: Sequence[str] | None = None,
) -> int:
    """Write ``DIR/<method>/<stem>.png`` (the image's mask: maps max-merged over its classes, the one the
    metrics score, 0..255 = 0..1) and, with ``per_class`` (N, C, H, W) and ``labels`` (N, C),
    ``DIR/<method>/<stem>/<class name>.png`` for each labelled class. Returns the number of files written."""
    merged = np.asarray(merged, np.float32)
    if merged.ndim != 3 or len(merged) != len(stems):
        raise ValueError(f"`merged` must be (N, H, W) with N={len(stems)} (one per stem), got {merged.shape}")
    base = Path(out_dir) / method.replace(":", "_").replace("/", "_").replace("=", "-")
    count = 0
    for i, stem in enumerate(stems):
        _png(base / f"{stem}.png", merged[i])
        count += 1
        if per_class is None or labels is None:
            continue
        for c in np.flatnonzero(np.asarray(labels[i]) > 0):
            name = class_names[c] if class_names is not None else str(c)
            _png(base / stem / f"{name}.png", np.asarray(per_class[i, c], np.float32))
            count += 1
    return count
