"""Data with per-class masks for the Explainer: multi-label synthetic scenes, and folder datasets with
class-indexed mask PNGs.

Folder layout (the ImageNet layout of :mod:`hrcam.data.folder` plus VOC ``SegmentationClass``-style masks)::

    ROOT/<split>/<class>/<stem>.<ext>      images (the folder gives one label)
    ROOT/masks/<split>/<stem>.png          one PNG per image: pixel value v in 1..C = class v - 1,
                                           0 = background, 255 = void (object borders in VOC)

The mask PNGs are read by :func:`hrcam.data.mask_files.read_class_masks` (through
:meth:`hrcam.data.folder.FolderDataset.class_masks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MaskData", "mask_data"]


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
