"""Class-indexed mask PNGs (VOC ``SegmentationClass`` style) -> per-class boolean masks (NumPy + PIL).

``ROOT/masks/<split>/<stem>.png``: one PNG per image, pixel value v in 1..C = class v - 1, 0 = background,
255 = void (object borders in VOC). Palette PNGs (VOC's) are read as their palette indices. An image's labels
are its folder class plus every class present in its mask. Masks are resized to the images' size with
nearest-neighbour interpolation (the original resized the index image bilinearly, which blends class
indices; for binary use it is the same up to the border). ``void_as_foreground=True`` reproduces the
original VOC rule "255 counts as object": void pixels then belong to the mask of every class of the image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.data.layouts import read_index_png, resize_nearest

__all__ = ["read_class_masks", "class_masks_from_index", "VOID"]

VOID = 255


def class_masks_from_index(
    idx: np.ndarray,
    num_classes: int,
    image_size: tuple[int, int],
    void_as_foreground: bool = False,
    labels: Any = None,
    name: str = "mask",
) -> np.ndarray:
    """One class-index image (H, W) -> (C, H, W) bool masks at ``image_size`` (nearest neighbour).

    ``labels``: the image's (C,) multi-hot classes; with ``void_as_foreground`` the void pixels join the masks
    of those classes and of the classes present in the image. ValueError (naming ``name``) for a pixel value
    outside 0..C and 255.
    """
    idx = resize_nearest(np.asarray(idx), image_size)
    bad = (idx > num_classes) & (idx != VOID)
    if bad.any():
        raise ValueError(
            f"mask file {name} has pixel value {int(idx[bad][0])}; expected 0 (background), "
            f"1..{num_classes} (classes) or {VOID} (void)"
        )
    masks = idx[None] == np.arange(1, num_classes + 1)[:, None, None]
    if void_as_foreground:
        present = masks.any(axis=(1, 2))
        if labels is not None:
            present |= np.asarray(labels).reshape(-1)[:num_classes] > 0
        masks[present] |= idx == VOID
    return masks


def read_class_masks(
    mask_files: list[str | os.PathLike],
    num_classes: int,
    image_size: tuple[int, int],
    void_as_foreground: bool = False,
    labels: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class-indexed mask PNGs -> ((N, C, H, W) bool masks, (N, C) int32 multi-hot labels).

    Args:
        mask_files: N paths; each pixel 0 (background), 1..C (class v - 1) or 255 (void).
        num_classes: C.
        image_size: (H, W) of the returned masks.
        void_as_foreground: void pixels count as object for every class of the image (the original's rule).
        labels: optional (N,) int folder labels, added to the classes found in the masks.

    Raises:
        FileNotFoundError: a missing file (named). ValueError: a pixel value outside 0..C and 255.
    """
    n = len(mask_files)
    masks = np.zeros((n, num_classes, *image_size), bool)
    multi = np.zeros((n, num_classes), np.int32)
    for i, f in enumerate(mask_files):
        if not Path(f).is_file():
            raise FileNotFoundError(f"mask file {os.fspath(f)} does not exist")
        idx = read_index_png(f)
        row = np.zeros(num_classes, np.int32)
        if labels is not None:
            row[int(labels[i])] = 1
        masks[i] = class_masks_from_index(idx, num_classes, image_size, void_as_foreground, row, os.fspath(f))
        multi[i] = masks[i].any(axis=(1, 2)) | (row > 0)
    return masks, multi
