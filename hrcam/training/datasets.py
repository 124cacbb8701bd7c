"""Turn a :class:`~hrcam.config.DataConfig` into the train / validation / test datasets of a run.

* train: shuffled, augmented (the paper's augmentation) when ``augment``;
* validation: carved from the training images (folder data) or a separately seeded set (synthetic), used
  for model selection;
* test: the folder's ``val/`` (or ``test/``) split, CUB-200-2011's test images (``data.source: cub``), or a
  third synthetic set, used only for evaluation;
  also kept as arrays (images, labels, and boxes or exact masks) for the CAM evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.config import DataConfig

__all__ = ["DataBundle", "load_data"]


@dataclass
class DataBundle:
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    class_names: list[str]
    test_images: np.ndarray  # (N, H, W, 3) uint8
    test_labels: np.ndarray  # (N,) int
    test_masks: np.ndarray | None = None  # (N, H, W) bool: exact masks (synthetic) or filled boxes (folder)
    test_boxes: list[np.ndarray] | None = None  # per image (n, 4) float32 x_min, y_min, x_max, y_max
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _synthetic(cfg: DataConfig) -> DataBundle:
    from hrcam.data.augment import paper_augmentation
    from hrcam.data.pipeline import from_arrays
    from hrcam.data.synthetic import make_scenes

    common = {"image_size": cfg.image_size, "num_classes": cfg.num_classes}
    train = make_scenes(cfg.train_size, seed=cfg.seed, **common)
    val = make_scenes(cfg.val_size, seed=cfg.seed + 1_000_003, **common)
    test = make_scenes(cfg.test_size, seed=cfg.seed + 2_000_003, **common)
    augment = paper_augmentation(seed=cfg.seed) if cfg.augment else None
    return DataBundle(
        train=from_arrays(
            train.images, train.labels, cfg.batch_size, shuffle=True, augment=augment, seed=cfg.seed
        ),
        val=from_arrays(val.images, val.labels, cfg.batch_size),
        test=from_arrays(test.images, test.labels, cfg.batch_size),
        class_names=list(train.class_names),
        test_images=test.images,
        test_labels=np.asarray(test.labels),
        test_masks=np.asarray(test.masks, bool),
        test_boxes=[np.asarray(b, np.float32) for b in test.boxes],
        info={"source": "synthetic", "train": cfg.train_size, "val": cfg.val_size, "test": cfg.test_size},
    )


def _folder(cfg: DataConfig) -> DataBundle:
    from hrcam.data.augment import paper_augmentation
    from hrcam.data.folder import load_image_files, make_dataset
    from hrcam.data.resolve import open_dataset

    data = open_dataset(cfg.source, cfg.root, bbox_dir=cfg.bbox_dir)  # a folder, or cub:ROOT
    test_split = "val" if data.has_split("val") else "test"
    tr_files, tr_labels, va_files, va_labels = data.split_train_val(cfg.val_fraction, seed=cfg.seed)
    size = (cfg.image_size, cfg.image_size)
    augment = paper_augmentation(seed=cfg.seed) if cfg.augment else None
    test_files, test_labels = data.files(test_split), data.labels(test_split)
    try:
        boxes = data.boxes(test_split, image_size=size)
        from hrcam.data.bbox import boxes_to_masks

        masks = boxes_to_masks(boxes, size)
        if cfg.source == "cub" and data.has_masks(data.ids("test")).all():  # CUB's exact object masks
            masks = data.masks(test_split, size)
    except FileNotFoundError:
        boxes, masks = None, None
    return DataBundle(
        train=make_dataset(
            tr_files,
            tr_labels,
            size,
            cfg.batch_size,
            shuffle=True,
            augment=augment,
            cache=cfg.cache,
            seed=cfg.seed,
        ),
        val=make_dataset(va_files, va_labels, size, cfg.batch_size, cache=cfg.cache),
        test=make_dataset(test_files, test_labels, size, cfg.batch_size),
        class_names=list(data.class_names),
        test_images=load_image_files(test_files, size),
        test_labels=np.asarray(test_labels),
        test_masks=masks,
        test_boxes=boxes,
        info={
            "source": cfg.source,
            "root": str(data.root),
            "train": len(tr_files),
            "val": len(va_files),
            "test": len(test_files),
            "test_split": test_split,
            "class_labels": list(data.class_labels),
        },
    )


def load_data(cfg: DataConfig) -> DataBundle:
    """Build the datasets of a run from its data config (see the module docstring)."""
    return _synthetic(cfg) if cfg.source == "synthetic" else _folder(cfg)
