"""Heat-map overlays of saliency maps on images and volumes: arrays, figures and PNG files.

No pyplot state is touched: figures are ``matplotlib.figure.Figure`` objects (render them with
``fig.savefig(...)``), so this module is safe in servers, tests and notebooks alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrcam.arrays import minmax, resize_maps
from hrcam.io import atomic_path
from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP, apply_cmap

__all__ = ["overlay", "saliency_plot", "save_overlays", "montage_slices", "unique_stems", "write_overlays"]


def _to_float_image(image: Any, name: str = "image") -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3[4]) uint8 / float [0, 1] -> (H, W, 3) float32 in [0, 1]."""
    img = np.asarray(_numpy(image))
    if img.dtype.kind not in "uifb":
        raise TypeError(f"`{name}` must hold numeric pixels, got dtype {img.dtype}")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(f"`{name}` must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {img.shape}")
    if img.dtype.kind in "ui":
        img = img.astype(np.float32) / 255.0
    img = np.clip(img.astype(np.float32), 0.0, 1.0)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return img[..., :3]


def _numpy(x: Any) -> Any:
    return x.numpy() if hasattr(x, "numpy") else x


def _in_unit_range(m: np.ndarray) -> np.ndarray:
    """Non-finite values -> 0; a map already in [0, 1] as it is, else min-max scaled (constant -> 0)."""
    m = np.nan_to_num(m.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if m.min() >= 0.0 and m.max() <= 1.0:
        return m
    return minmax(m[None])[0]


def overlay(
    image: Any,
    map: Any,  # noqa: A002
    alpha: float = DEFAULT_ALPHA,
    cmap: str = DEFAULT_CMAP,
) -> np.ndarray:
    """Blend a colour-mapped saliency map onto an image.

    Args:
        image: (H, W), (H, W, 1) or (H, W, 3) uint8, or float in [0, 1].
        map: (h, w) map; values in [0, 1] are used as they are, anything else is min-max scaled. Resized
            (bilinear) to the image size when the sizes differ.
        alpha: weight of the heat map, in [0, 1]: ``out = (1 - alpha) * image + alpha * cmap(map)``.
        cmap: a matplotlib colormap name (default :data:`~hrcam.plotting.colors.DEFAULT_CMAP`, perceptually
            uniform; ``"jet"`` on request).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}")
    img = _to_float_image(image)
    m = np.asarray(_numpy(map))
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"`map` must be 2-D (h, w), got shape {m.shape}")
    m = _in_unit_range(m)
    if m.shape != img.shape[:2]:
        m = resize_maps(m, img.shape[:2])  # bilinear, half-pixel centres
    heat = apply_cmap(m, cmap)
    out = (1.0 - float(alpha)) * img + float(alpha) * heat
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def montage_slices(volume: Any, n_slices: int | None = None) -> list[int]:
    """Indices of up to ``n_slices`` evenly spaced slices along the depth axis of (D, ...) ``volume``."""
    d = int(np.shape(volume)[0])
    if n_slices is None or n_slices >= d:
        return list(range(d))
    return sorted({int(round(i)) for i in np.linspace(0, d - 1, max(1, n_slices))})


def _split_maps(maps: np.ndarray, batch: int, spatial_rank: int) -> np.ndarray:
    """(B, *spatial) or (B, k, *spatial) -> (B, k, *spatial)."""
    if maps.ndim == spatial_rank + 1:
        maps = maps[:, None]
    if maps.ndim != spatial_rank + 2 or maps.shape[0] != batch:
        want = "(B, H, W) or (B, k, H, W)" if spatial_rank == 2 else "(B, D, H, W) or (B, k, D, H, W)"
        raise ValueError(f"`maps` must be {want} for {batch} inputs, got shape {maps.shape}")
    return maps


def _check_mode(mode: str) -> int:
    if not isinstance(mode, str) or mode.upper() not in ("2D", "3D"):
        raise ValueError(f"`mode` must be '2D' or '3D', got {mode!r}")
    return 2 if mode.upper() == "2D" else 3


def _batch_images(x: Any, spatial_rank: int) -> np.ndarray:
    arr = np.asarray(_numpy(x))
    want = spatial_rank + 2
    if arr.ndim == want - 1:  # no channel axis
        arr = arr[..., None]
    if arr.ndim != want:
        layout = "(B, H, W, C)" if spatial_rank == 2 else "(B, D, H, W, C)"
        raise ValueError(f"`x` must be {layout}, got shape {arr.shape}")
    return arr


def saliency_plot(
    x: Any,
    maps: Any,
    mode: str = "2D",
    alpha: float = 0.8,
    titles: Sequence[str] | None = None,
    cmap: str = DEFAULT_CMAP,
    n_slices: int | None = 8,
    max_images: int = 16,
) -> Figure:
    """Plot images with their saliency maps overlaid.

    2D: one row per image: the image, then one overlay per map (k columns for (B, k, H, W) maps).
    3D: a montage of slices: one row per (volume, map), one column per depth slice (``n_slices`` evenly
    spaced slices), each slice's map overlaid on the slice.

    Args:
        x: (B, H, W, C) images (3D: (B, D, H, W, C) volumes), uint8 or float in [0, 1].
        maps: (B, H, W) or (B, k, H, W) (3D: (B, D, H, W) or (B, k, D, H, W)) maps in [0, 1].
        mode: ``"2D"`` or ``"3D"``.
        alpha: heat-map weight (see :func:`overlay`).
        titles: optional titles: one per map column (2D, k entries) or one per row.
        cmap: matplotlib colormap (default :data:`~hrcam.plotting.colors.DEFAULT_CMAP`).
        n_slices: slices per volume in 3D mode (``None``: all).
        max_images: plot at most this many images/volumes.

    Returns:
        a ``matplotlib.figure.Figure`` (not registered with pyplot; use ``fig.savefig``).
    """
    spatial_rank = _check_mode(mode)
    imgs = _batch_images(x, spatial_rank)
    b = imgs.shape[0]
    m = _split_maps(np.asarray(_numpy(maps), dtype=np.float32), b, spatial_rank)
    if m.shape[2:] != imgs.shape[1:-1] and spatial_rank == 3 and m.shape[2] != imgs.shape[1]:
        raise ValueError(f"`maps` depth {m.shape[2]} does not match the volumes' depth {imgs.shape[1]}")
    b = min(b, int(max_images))
    k = m.shape[1]
    if spatial_rank == 2:
        nrows, ncols = b, 1 + k
        fig = Figure(figsize=(2.2 * ncols, 2.2 * nrows + 0.3), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for i in range(b):
            axes[i, 0].imshow(_to_float_image(imgs[i], "x"))
            if i == 0:
                axes[i, 0].set_title("input", fontsize=9)
            for j in range(k):
                axes[i, 1 + j].imshow(overlay(imgs[i], m[i, j], alpha=alpha, cmap=cmap))
                if i == 0:
                    label = (
                        titles[j]
                        if titles is not None and j < len(titles)
                        else ("map" if k == 1 else f"map {j}")
                    )
                    axes[i, 1 + j].set_title(label, fontsize=9)
        for ax in axes.ravel():
            ax.set_axis_off()
        return fig
    slices = montage_slices(imgs[0], n_slices)
    nrows, ncols = b * k, len(slices)
    fig = Figure(figsize=(1.8 * ncols, 1.9 * nrows + 0.3), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i in range(b):
        for j in range(k):
            row = i * k + j
            for c, s in enumerate(slices):
                axes[row, c].imshow(overlay(imgs[i, s], m[i, j, s], alpha=alpha, cmap=cmap))
                axes[row, c].set_axis_off()
                if row == 0:
                    axes[row, c].set_title(f"slice {s}", fontsize=8)
            label = None
            if titles is not None and row < len(titles):
                label = titles[row]
            elif k > 1 or b > 1:
                label = f"volume {i}" + (f", map {j}" if k > 1 else "")
            if label:
                axes[row, 0].text(-0.08, 0.5, label, rotation=90, va="center", ha="right", fontsize=8,
                                  transform=axes[row, 0].transAxes)  # fmt: skip
    return fig


def unique_stems(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Output file stems for input files, unique within the list: ``a/x.jpg, b/x.jpg -> x, x-1``.

    Both ``hrcam explain`` paths (local model and ``--server``) name their overlays with these stems.
    """
    stems: list[str] = []
    for p in paths:
        stem = Path(p).stem or "image"
        candidate, i = stem, 1
        while candidate in stems:
            candidate = f"{stem}-{i}"
            i += 1
        stems.append(candidate)
    return stems


def write_overlays(
    items: Iterable[tuple[str, Any, Mapping[str, Any]]],
    out_dir: str | os.PathLike,
    alpha: float = DEFAULT_ALPHA,
    cmap: str = DEFAULT_CMAP,
) -> list[Path]:
    """Write overlay PNGs of images of any size, each map drawn at its image's own resolution, atomically.

    The one writer of ``hrcam explain``'s overlays, for maps computed locally and by a TF Serving model.

    Args:
        items: ``(stem, image, maps)`` per image: ``stem`` a plain file stem (see :func:`unique_stems`),
            ``image`` (H, W[, C]) uint8 or float in [0, 1] at the input file's resolution, ``maps``
            ``{suffix: (h, w) map}``; each map is resized (bilinear, half-pixel centres) to (H, W) and
            written to ``<stem>.png`` (suffix ``""``) or ``<stem>_<suffix>.png``.
        out_dir: directory (created if needed).
        alpha, cmap: see :func:`overlay`.

    Returns:
        the written paths, in order.

    Raises:
        ValueError: a stem that is not a plain file name, or two overlays with the same file name.
    """
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for stem, image, maps in items:
        _check_stem(stem)
        for suffix, m in maps.items():
            path = out / (f"{stem}_{suffix}.png" if suffix else f"{stem}.png")
            if path in paths:
                raise ValueError(f"two overlays would be written to {str(path)!r}; stems must be unique")
            with atomic_path(path) as tmp:
                Image.fromarray(overlay(image, m, alpha=alpha, cmap=cmap)).save(tmp, format="PNG")
            paths.append(path)
    return paths


def _check_stem(n: str) -> None:
    if not n or os.sep in n or (os.altsep and os.altsep in n) or n in (".", ".."):
        raise ValueError(f"`names` entries must be plain file stems, got {n!r}")


def save_overlays(
    images: Any,
    maps: Any,
    out_dir: str | os.PathLike,
    names: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    cmap: str = DEFAULT_CMAP,
    mode: str = "2D",
    n_slices: int | None = 8,
) -> list[Path]:
    """Write one overlay PNG per image (and per map when maps are (B, k, ...)), atomically.

    Args:
        images: (B, H, W, C) uint8/float images (3D: (B, D, H, W, C) volumes).
        maps: (B, H, W) or (B, k, H, W) maps (3D: (B, D, H, W) or (B, k, D, H, W)).
        out_dir: directory (created if needed).
        names: B file stems (default ``"0000"``, ``"0001"``, ...). With k maps per image the files are
            ``<stem>_<j>.png``.
        alpha, cmap: see :func:`overlay`.
        mode: ``"2D"``, or ``"3D"`` (each PNG is a horizontal strip of ``n_slices`` overlaid slices).

    Returns:
        the written paths, in order (image-major).
    """
    from PIL import Image

    spatial_rank = _check_mode(mode)
    imgs = _batch_images(images, spatial_rank)
    b = imgs.shape[0]
    m = _split_maps(np.asarray(_numpy(maps), dtype=np.float32), b, spatial_rank)
    if names is None:
        names = [f"{i:04d}" for i in range(b)]
    names = [str(n) for n in names]
    if len(names) != b:
        raise ValueError(f"`names` has {len(names)} entries for {b} images")
    if len(set(names)) != len(names):
        raise ValueError("`names` must be unique (files would overwrite each other)")
    for n in names:
        _check_stem(n)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = m.shape[1]
    paths = []
    for i in range(b):
        for j in range(k):
            if spatial_rank == 2:
                rgb = overlay(imgs[i], m[i, j], alpha=alpha, cmap=cmap)
            else:
                sl = montage_slices(imgs[i], n_slices)
                rgb = np.concatenate(
                    [overlay(imgs[i, s], m[i, j, s], alpha=alpha, cmap=cmap) for s in sl], axis=1
                )
            path = out / (f"{names[i]}.png" if k == 1 else f"{names[i]}_{j}.png")
            with atomic_path(path) as tmp:
                Image.fromarray(rgb).save(tmp, format="PNG")
            paths.append(path)
    return paths
