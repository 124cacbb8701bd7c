"""What the official dataset layouts (:mod:`hrcam.data.voc`, :mod:`hrcam.data.coco`, :mod:`hrcam.data.cub`)
share: one interface over image ids, and the single-label interface of
:class:`hrcam.data.folder.FolderDataset` on top of it (NumPy + PIL; TensorFlow only when images are decoded).

Every layout lists the image ids of the splits ``"train"``, ``"val"`` (model selection, never the test
images) and ``"test"`` (:meth:`OfficialDataset.ids`), and gives for a list of ids the image files, the
(N, C) multi-hot targets, per-class masks (N, C, H, W) at a requested size, and boxes. Multi-label layouts
(VOC, COCO) feed the Explainer; CUB is single-label and also serves the HR-CAM and CASM commands through
:meth:`files`, :meth:`labels`, :meth:`boxes` and :meth:`split_train_val`, as a folder dataset does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OfficialDataset", "SPLITS", "carve", "check_year", "read_index_png", "resize_nearest"]

SPLITS = ("train", "val", "test")


def check_year(year: Any, years: Sequence[str], dataset: str) -> str:
    """``year`` as a string if ``dataset`` has it, else a ValueError naming the years it has."""
    year = str(year)
    if year not in years:
        raise ValueError(f"{dataset} `year` must be one of {list(years)}, got {year!r}")
    return year


def carve(n: int, fraction: float, seed: int, strata: Sequence[int] | None = None) -> np.ndarray:
    """A deterministic held-out part of ``n`` items: a bool mask with ``round(n * fraction)`` True (per
    stratum when ``strata`` is given, each seeded with ``(seed, stratum)``, at least 1, at most n_s - 1)."""
    if isinstance(fraction, bool) or not 0.0 <= float(fraction) < 1.0:
        raise ValueError(f"`val_fraction` must be in [0, 1), got {fraction!r}")
    out = np.zeros(n, bool)
    if fraction == 0 or n == 0:
        return out
    groups = np.zeros(n, np.int64) if strata is None else np.asarray(strata, np.int64)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        k = min(max(1, int(round(len(idx) * float(fraction)))), len(idx) - 1)
        if k > 0:
            out[np.random.default_rng([int(seed), int(g)]).choice(idx, size=k, replace=False)] = True
    return out


def read_index_png(path: str | os.PathLike) -> np.ndarray:
    """A class-index PNG as (H, W) int64: palette PNGs (VOC's ``SegmentationClass``) give their palette
    indices, grayscale PNGs their values."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("P", "L", "I", "I;16"):
            im = im.convert("L")
        return np.asarray(im).astype(np.int64)


def resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a (H, W) array (pixel centres), for label images."""
    h, w = arr.shape[:2]
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(int), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(int), w - 1)
    return arr[rows][:, cols]


class OfficialDataset:
    """Base of the official layouts. Subclasses set :attr:`name`, :attr:`multi_label`, :attr:`root`,
    :attr:`class_names` (:attr:`class_labels`: human-readable) and implement :meth:`ids`, :meth:`paths`,
    :meth:`targets`, :meth:`has_masks`, :meth:`class_masks` and :meth:`boxes_of`."""

    name = "official"
    multi_label = True
    root: Path
    class_names: tuple[str, ...] = ()
    bbox_dir = None
    val_fraction = 0.1  # the validation part of the training images, where a layout has no official one
    seed = 0

    @property
    def class_labels(self) -> tuple[str, ...]:
        return self.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {self.num_classes} classes)"

    # -- the layout's own interface ----------------------------------------------------------------
    def ids(self, split: str) -> list:
        """Image ids of ``split`` (``"train"``, ``"val"``, ``"test"``), in the layout's order."""
        if self.check_split(split) == "test":
            return self.test_ids()
        train, val = self.train_val_ids(self.val_fraction, self.seed)
        return train if split == "train" else val

    def train_val_ids(self, val_fraction: float, seed: int) -> tuple[list, list]:  # pragma: no cover
        raise NotImplementedError

    def test_ids(self) -> list:  # pragma: no cover
        raise NotImplementedError

    def paths(self, ids: Sequence) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def targets(self, ids: Sequence) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def has_masks(self, ids: Sequence) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def class_masks(self, ids: Sequence, image_size: Any, void_as_foreground: bool = False) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def boxes_of(self, ids: Sequence, image_size: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def check_split(split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}")
        return split

    # -- FolderDataset's single-label interface ----------------------------------------------------
    def _single_label(self, what: str) -> None:
        if self.multi_label:
            raise ValueError(
                f"{self.name} is a multi-label dataset (several classes per image); {what} needs one class "
                "per image: use it with `hrcam train-explainer` / `hrcam score --masks`, or give a folder "
                "dataset, cub:ROOT or synthetic"
            )

    def has_split(self, split: str) -> bool:
        return split in ("train", "val", "test")

    def pool_ids(self, split: str) -> list:
        """``train``: the official training images (the validation part included, as a folder's ``train/``);
        ``val`` / ``test``: the test images (a folder's held-out ``val/``)."""
        return self.ids("train") + self.ids("val") if split == "train" else self.ids("test")

    def files(self, split: str = "train") -> list[str]:
        self._single_label("a single-label command")
        return self.paths(self.pool_ids(split))

    def labels(self, split: str = "train") -> np.ndarray:
        self._single_label("a single-label command")
        return self.targets(self.pool_ids(split)).argmax(1).astype(np.int32)

    def split_train_val(self, val_fraction: float = 0.1, seed: int = 0):
        """The training images split into training and validation parts (the layout's official validation
        split where it has one, else a seeded carve of ``val_fraction``); ``(train_files, train_labels,
        val_files, val_labels)``."""
        self._single_label("a single-label command")
        tr, va = self.train_val_ids(val_fraction, seed)
        return (
            self.paths(tr),
            self.targets(tr).argmax(1).astype(np.int32),
            self.paths(va),
            self.targets(va).argmax(1).astype(np.int32),
        )

    def boxes(self, split: str = "val", image_size: Any = None, bbox_dir: Any = None) -> list[np.ndarray]:
        """Boxes (pixel-edge, scaled to ``image_size``) of every image of the held-out split, aligned with
        :meth:`files`."""
        self._single_label("a single-label command")
        return [b for b, _ in self.boxes_of(self.pool_ids(split), image_size)]

    def masks(self, split: str = "val", image_size: Any = None) -> np.ndarray:
        """(N, H, W) bool object masks of the held-out split (the union of the classes' masks)."""
        self._single_label("a single-label command")
        return self.class_masks(self.pool_ids(split), image_size).any(axis=1)
