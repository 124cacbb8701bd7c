"""Data with per-class masks for the Explainer: multi-label synthetic scenes, and folder datasets with
class-indexed mask PNGs.

Folder layout (the ImageNet layout of :mod:`hrcam.data.folder` plus VOC ``SegmentationClass``-style masks)::

    ROOT/<split>/<class>/<stem>.<ext>      images (the folder gives one label)
    ROOT/masks/<split>/<stem>.png          one PNG per image: pixel value v in 1..C = class v - 1,
                                           0 = background, 255 = void (object borders in VOC)

Palette PNGs (VOC's) are read as their palette indices. An image's labels are its folder class plus every
class present in its mask. Masks are resized to the images' size with nearest-neighbour interpolation (the
original resized the index image bilinearly, which blends class indices; for binary use it is the same up
to the border). ``void_as_foreground=True`` reproduces the original VOC rule "255 counts as object": void
pixels then belong to the mask of every class of the image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MaskData", "read_class_masks", "mask_data", "VOID"]

VOID = 255


@dataclass
class MaskData:
    """images (N, H, W, 3) uint8; labels (N, C) int32 multi-hot; masks (N, C, H, W) bool; class_names."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, n: int) -> MaskData:
        return MaskData(self.images[:n], self.labels[:n], self.masks[:n], self.class_names)


def _read_index_png(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("P", "L", "I", "I;16"):
            im = im.convert("L")
        return np.asarray(im).astype(np.int64)


def _resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = arr.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(int), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(int), w - 1)
    return arr[rows][:, cols]


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
        idx = _resize_nearest(_read_index_png(os.fspath(f)), image_size)
        bad = (idx > num_classes) & (idx != VOID)
        if bad.any():
            raise ValueError(
                f"mask file {os.fspath(f)} has pixel value {int(idx[bad][0])}; expected 0 (background), "
                f"1..{num_classes} (classes) or {VOID} (void)"
            )
        for c in range(num_classes):
            masks[i, c] = idx == c + 1
        multi[i] = masks[i].any(axis=(1, 2))
        if labels is not None:
            multi[i, int(labels[i])] = 1
        if void_as_foreground:
            masks[i, multi[i] > 0] |= idx == VOID
    return masks, multi


def mask_data(config: Any, split: str) -> MaskData:
    """Images, multi-hot labels and per-class masks for ``split`` ("train", "val" or "test") of an
    ``hrcam train-explainer`` data section (``source`` synthetic or folder).

    Synthetic: multi-label scenes with seeds ``seed``, ``seed + 1000``, ``seed + 2000`` for the three splits
    (never the same scenes). Folder: ``train`` and ``val`` are the stratified split of ``ROOT/train``
    (:meth:`FolderDataset.split_train_val`), ``test`` is ``ROOT/val`` (or ``ROOT/test``).
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}")
    size = int(config.image_size)
    if config.source == "synthetic":
        from hrcam.data.scenes import make_scenes

        n = {"train": config.train_size, "val": config.val_size, "test": config.test_size}[split]
        offset = {"train": 0, "val": 1000, "test": 2000}[split]
        s = make_scenes(
            int(n),
            image_size=size,
            num_classes=int(config.num_classes),
            seed=int(config.seed) + offset,
            multi_label=True,
            objects_per_image=tuple(config.objects_per_image),
        )
        return MaskData(s.images, s.labels.astype(np.int32), s.masks.astype(bool), s.class_names)
    from hrcam.data.folder import FolderDataset
    from hrcam.data.images import load_image_files

    folder = FolderDataset(config.root)
    if split == "test":
        split_name = "val" if folder.has_split("val") else "test"
        files, labels = folder.files(split_name), folder.labels(split_name)
    else:
        tr_f, tr_y, va_f, va_y = folder.split_train_val(0.1, seed=int(config.seed))
        files, labels, split_name = (tr_f, tr_y, "train") if split == "train" else (va_f, va_y, "train")
    masks, multi = folder.class_masks(
        files, split_name, (size, size), bool(config.void_as_foreground), labels
    )
    return MaskData(load_image_files(files, (size, size)), multi, masks, tuple(folder.class_names))
