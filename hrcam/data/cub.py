"""CUB-200-2011 in the official layout, read from a local folder (``--data cub:ROOT``).

Layout (``ROOT`` holds ``CUB_200_2011/``, or is it)::

    CUB_200_2011/images.txt                 "<image id> <path>"  (paths relative to images/)
    CUB_200_2011/image_class_labels.txt     "<image id> <class id>"  (1-based)
    CUB_200_2011/classes.txt                "<class id> <nnn.Name>"
    CUB_200_2011/train_test_split.txt       "<image id> <1 = train, 0 = test>"
    CUB_200_2011/bounding_boxes.txt         "<image id> <x> <y> <width> <height>"  (pixels, floats)
    CUB_200_2011/images/<path>
    segmentations/<path with .png>          the separate segmentation download (beside CUB_200_2011/, or
                                            inside it): greyscale, the annotators' agreement 0..255

Single-label: one class per image (class ids 1..200 -> 0..199; class names as the folders, ``001.Black_footed_
Albatross``, human-readable labels without the number). Splits: ``test`` = the official test images;
``train`` / ``val`` = the official training images with a stratified, seeded ``val_fraction`` held out for
validation (CUB has no official validation split). Boxes: ``(x, y, x + w, y + h)`` pixel-edge, scaled to the
images' size. Masks: a segmentation pixel is object when at least half the annotators marked it
(value >= 128), resized with nearest neighbour; an image without a segmentation file has no mask
(:meth:`CUBDataset.has_masks`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.arrays import as_size, scale_boxes
from hrcam.data.layouts import OfficialDataset, carve, resize_nearest

__all__ = ["CUBDataset", "find_cub_root"]

_FILES = ("images.txt", "image_class_labels.txt", "classes.txt", "train_test_split.txt")


def find_cub_root(root: str | os.PathLike) -> Path:
    """The ``CUB_200_2011`` folder: ``root`` itself or ``root/CUB_200_2011`` (FileNotFoundError if neither
    holds the official index files)."""
    root = Path(root)
    for cand in (root, root / "CUB_200_2011"):
        if all((cand / f).is_file() for f in _FILES):
            return cand
    raise FileNotFoundError(
        f"no CUB-200-2011 under {str(root)!r}: expected {', '.join(_FILES)} in {root} or "
        f"{root / 'CUB_200_2011'}"
    )


def _table(path: Path, columns: int) -> dict[int, list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"CUB-200-2011 file {path} does not exist")
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.strip().split(maxsplit=columns)
            if not parts:
                continue
            if len(parts) < columns + 1:
                raise ValueError(f"{path}:{n}: expected {columns + 1} fields, got {line.strip()!r}")
            out[int(parts[0])] = parts[1:]
    return out


class CUBDataset(OfficialDataset):
    """CUB-200-2011 under ``root`` (see the module docstring). Image ids are the official ints."""

    name = "cub"
    multi_label = False

    def __init__(self, root: str | os.PathLike, val_fraction: float = 0.1, seed: int = 0):
        self.root = find_cub_root(root)
        self.val_fraction, self.seed = float(val_fraction), int(seed)
        self._paths = {i: v[0] for i, v in _table(self.root / "images.txt", 1).items()}
        classes = _table(self.root / "classes.txt", 1)
        self.class_names = tuple(classes[k][0] for k in sorted(classes))
        labels = _table(self.root / "image_class_labels.txt", 1)
        self._labels = {i: int(v[0]) - 1 for i, v in labels.items()}
        self._train = {i: v[0] == "1" for i, v in _table(self.root / "train_test_split.txt", 1).items()}
        self._boxes = None
        missing = sorted(set(self._paths) - set(self._labels))[:5]
        if missing:
            raise ValueError(f"{self.root / 'image_class_labels.txt'} has no class for images {missing}")
        self.segmentations = next(
            (p for p in (self.root.parent / "segmentations", self.root / "segmentations") if p.is_dir()), None
        )

    @property
    def class_labels(self) -> tuple[str, ...]:
        return tuple(n.split(".", 1)[-1].replace("_", " ") for n in self.class_names)

    # -- splits ------------------------------------------------------------------------------------
    def test_ids(self) -> list[int]:
        return [i for i in sorted(self._paths) if not self._train.get(i, False)]

    def train_val_ids(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
        ids = [i for i in sorted(self._paths) if self._train.get(i, False)]
        held = carve(len(ids), val_fraction, seed, [self._labels[i] for i in ids])
        return [i for i, h in zip(ids, held) if not h], [i for i, h in zip(ids, held) if h]

    # -- per image ---------------------------------------------------------------------------------
    def paths(self, ids: Sequence[int]) -> list[str]:
        return [str(self.root / "images" / self._paths[i]) for i in ids]

    def targets(self, ids: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(ids), self.num_classes), np.int32)
        out[np.arange(len(ids)), [self._labels[i] for i in ids]] = 1
        return out

    def segmentation_file(self, image_id: int) -> Path | None:
        if self.segmentations is None:
            return None
        return self.segmentations / Path(self._paths[image_id]).with_suffix(".png")

    def has_masks(self, ids: Sequence[int]) -> np.ndarray:
        return np.array([(f := self.segmentation_file(i)) is not None and f.is_file() for i in ids], bool)

    def object_mask(self, image_id: int, image_size: Any = None) -> np.ndarray:
        """(H, W) bool: the pixels at least half the annotators marked (native size unless ``image_size``)."""
        from PIL import Image

        path = self.segmentation_file(image_id)
        if path is None or not path.is_file():
            raise FileNotFoundError(
                f"no CUB-200-2011 segmentation for image {image_id} ({self._paths[image_id]}): expected "
                f"{path or self.root.parent / 'segmentations'} (the separate segmentations download)"
            )
        with Image.open(path) as im:
            mask = np.asarray(im.convert("L")) >= 128
        return mask if image_size is None else resize_nearest(mask, as_size(image_size, "image_size"))

    def masks(self, split: str = "val", image_size: Any = None) -> np.ndarray:
        """(N, H, W) bool object masks of the held-out split, aligned with :meth:`files`."""
        return np.stack([self.object_mask(i, image_size) for i in self.pool_ids(split)])

    def class_masks(
        self, ids: Sequence[int], image_size: Any, void_as_foreground: bool = False
    ) -> np.ndarray:
        size = as_size(image_size, "image_size")
        out = np.zeros((len(ids), self.num_classes, *size), bool)
        for n, i in enumerate(ids):
            out[n, self._labels[i]] = self.object_mask(i, size)
        return out

    def image_size_of(self, image_id: int) -> tuple[int, int]:
        from PIL import Image

        with Image.open(self.paths([image_id])[0]) as im:
            return im.size[1], im.size[0]

    def boxes_of(self, ids: Sequence[int], image_size: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: ((1, 4) float32 pixel-edge box scaled to ``image_size``; (1,) class index)."""
        if self._boxes is None:
            self._boxes = {
                i: [float(v) for v in b] for i, b in _table(self.root / "bounding_boxes.txt", 4).items()
            }
        out = []
        for i in ids:
            x, y, w, h = self._boxes[i]
            b = np.array([[x, y, x + w, y + h]], np.float32)
            if image_size is not None:
                b = scale_boxes(b, self.image_size_of(i), as_size(image_size, "image_size"))
            out.append((b, np.array([self._labels[i]], np.int64)))
        return out
