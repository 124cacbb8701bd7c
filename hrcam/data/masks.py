"""Data with per-class masks for the Explainer: multi-label synthetic scenes, folder datasets with
class-indexed mask PNGs, and the official layouts (PASCAL VOC, MS COCO, CUB-200-2011;
:mod:`hrcam.data.resolve`).

Folder layout (the ImageNet layout of :mod:`hrcam.data.folder` plus VOC ``SegmentationClass``-style masks)::

    ROOT/<split>/<class>/<stem>.<ext>      images (the folder gives one label)
    ROOT/masks/<split>/<stem>.png          one PNG per image: pixel value v in 1..C = class v - 1,
                                           0 = background, 255 = void (object borders in VOC)

The mask PNGs are read by :func:`hrcam.data.mask_files.read_class_masks` (through
:meth:`hrcam.data.folder.FolderDataset.class_masks`). The official layouts give their own splits, targets and
masks (:class:`hrcam.data.layouts.OfficialDataset`); their images stay files until they are needed
(``MaskData.files``), so a training set as large as COCO's is streamed, not held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MaskData", "mask_data"]


@dataclass
class MaskData:
    """images (N, H, W, 3) uint8 (None while they are only ``files``); labels (N, C) int32 multi-hot; masks
    (N, C, H, W) bool (None for a split without masks); class_names; files (N,) image paths where the data
    comes from files; image_size (H, W)."""

    images: np.ndarray | None
    labels: np.ndarray
    masks: np.ndarray | None
    class_names: tuple[str, ...]
    files: list[str] | None = None
    image_size: tuple[int, int] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int) -> MaskData:
        cut = lambda a: None if a is None else a[:n]  # noqa: E731
        return MaskData(
            cut(self.images),
            self.labels[:n],
            cut(self.masks),
            self.class_names,
            cut(self.files),
            self.image_size,
        )

    def load_images(self, n: int | None = None) -> np.ndarray:
        """(n, H, W, 3) uint8: the first ``n`` images (all by default), decoded from ``files`` if needed."""
        if self.images is not None:
            return self.images[:n]
        from hrcam.data.images import load_image_files

        return load_image_files(self.files[:n], self.image_size)


def mask_data(config: Any, split: str, with_masks: bool | None = None, load_images: bool = True) -> MaskData:
    """Images, multi-hot labels and per-class masks for ``split`` ("train", "val" or "test") of an
    ``hrcam train-explainer`` data section (``source``: synthetic, folder or an official layout).

    Synthetic: multi-label scenes with seeds ``seed``, ``seed + 1000``, ``seed + 2000`` for the three splits
    (never the same scenes). Folder: ``train`` and ``val`` are the stratified split of ``ROOT/train``
    (:meth:`FolderDataset.split_train_val`), ``test`` is ``ROOT/val`` (or ``ROOT/test``). Official layouts
    (:func:`official_mask_data`): their own splits.

    Args:
        with_masks: official layouts: read the masks (default: for ``test`` only), keeping only the images
            that have them (VOC's segmentation subset).
        load_images: official layouts: decode the images now (else ``MaskData.files`` only).
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}")
    size = int(config.image_size)
    if config.source not in ("synthetic", "folder"):
        with_masks = split == "test" if with_masks is None else with_masks
        return official_mask_data(config, split, with_masks, load_images)
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
    return MaskData(
        load_image_files(files, (size, size)), multi, masks, tuple(folder.class_names), files, (size, size)
    )


def official_mask_data(
    config: Any, split: str, with_masks: bool = True, load_images: bool = True
) -> MaskData:
    """:func:`mask_data` of an official layout (``config.source`` voc2007, voc2012, coco2014, coco2017 or
    cub; ``config.root``): the layout's ``split`` (``val_fraction`` and ``seed`` where it carves its
    validation split), restricted to the images with masks when ``with_masks``; ``config.test_limit``
    (when set) keeps a seeded random subset of that many test images."""
    from hrcam.data.resolve import open_dataset

    size = (int(config.image_size), int(config.image_size))
    dataset = open_dataset(config.source, config.root, seed=int(config.seed))
    if dataset.num_classes != int(config.num_classes):
        raise ValueError(
            f"data.num_classes is {config.num_classes} but {config.source} at {config.root} has "
            f"{dataset.num_classes} classes; set data.num_classes={dataset.num_classes}"
        )
    ids = dataset.ids(split)
    if with_masks:
        keep = dataset.has_masks(ids)
        ids = [i for i, k in zip(ids, keep) if k]
        if not ids:
            raise ValueError(
                f"the {split} split of {config.source} at {config.root} has no images with masks"
            )
    limit = getattr(config, "test_limit", None)
    if split == "test" and limit and limit < len(ids):
        chosen = np.sort(np.random.default_rng(int(config.seed)).choice(len(ids), int(limit), replace=False))
        ids = [ids[i] for i in chosen]
    if not ids:
        raise ValueError(f"the {split} split of {config.source} at {config.root} is empty")
    files = dataset.paths(ids)
    masks = dataset.class_masks(ids, size, bool(config.void_as_foreground)) if with_masks else None
    images = None
    if load_images:
        from hrcam.data.images import load_image_files

        images = load_image_files(files, size)
    return MaskData(images, dataset.targets(ids), masks, tuple(dataset.class_names), files, size)
