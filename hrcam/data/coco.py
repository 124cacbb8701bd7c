"""MS COCO 2014 / 2017 in the official layout, read from a local folder (``--data coco2014:ROOT``).

Layout::

    ROOT/annotations/instances_train2014.json     COCO "instances" JSON: images, annotations, categories
    ROOT/annotations/instances_val2014.json
    ROOT/train2014/<file_name>                    the images named by the JSON
    ROOT/val2014/<file_name>
    ROOT/annotations/train2014_train_split.json   optional: the Explainer's own train / val split of
    ROOT/annotations/train2014_val_split.json     train2014 (COCO-format JSONs), used when both exist

Read as the Explainer's original read it (``src/data/dataset.py``): every image of a JSON, sorted by id
(images without any annotation included, with empty targets); an image's targets are the categories of all
its annotations, crowd annotations (``iscrowd: 1``, RLE) included. Classes are the JSON's categories sorted
by id, indexed 0..C-1 (80 for COCO; the original indexed 91 raw category ids, 11 of them unused).
Splits: ``train`` / ``val`` are the split files when present, else ``instances_train<year>`` with a seeded
``val_fraction`` carved out for validation; ``test`` is ``instances_val<year>`` (the original's test set;
``data.test_limit`` takes a seeded subset, as the original's 1000 segmentation images).

Masks: per class, the union of its annotations' masks, each decoded exactly as pycocotools'
``COCO.annToMask`` does (polygons -> merged RLE, uncompressed RLE, compressed RLE; :func:`annotation_mask`),
then resized to the images' size (nearest neighbour). pycocotools is the ``[coco]`` extra
(``pip install 'hrcam[coco]'``); targets and boxes need only the JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.arrays import as_size, scale_boxes
from hrcam.data.layouts import OfficialDataset, carve, check_year, resize_nearest

__all__ = ["COCODataset", "annotation_mask"]


def annotation_mask(annotation: dict[str, Any], height: int, width: int) -> np.ndarray:
    """(height, width) uint8 mask of one COCO annotation, as ``pycocotools.coco.COCO.annToMask``.

    Raises:
        ImportError: pycocotools is not installed (the ``[coco]`` extra).
    """
    try:
        from pycocotools import mask as mask_utils
    except ImportError:  # pragma: no cover - the [coco] extra is installed by `make test`
        raise ImportError(
            "COCO masks need pycocotools: pip install 'hrcam[coco]' (or pip install pycocotools)"
        ) from None
    segm = annotation["segmentation"]
    if isinstance(segm, list):  # polygons: one RLE per polygon, merged
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    elif isinstance(segm.get("counts"), list):  # uncompressed RLE (crowd annotations)
        rle = mask_utils.frPyObjects(segm, height, width)
    else:  # compressed RLE
        rle = segm
    return mask_utils.decode(rle)


class _Instances:
    """One instances JSON, indexed: images by id (sorted), annotations by image."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise FileNotFoundError(f"COCO annotation file {path} does not exist")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        missing = {"images", "annotations", "categories"} - set(data)
        if missing:
            raise ValueError(f"{path} is not a COCO instances file: no {sorted(missing)}")
        self.path = path
        self.images = {int(im["id"]): im for im in data["images"]}
        self.categories = sorted((int(c["id"]), str(c["name"])) for c in data["categories"])
        self.by_image: dict[int, list[dict[str, Any]]] = {i: [] for i in self.images}
        for ann in data["annotations"]:
            if int(ann["image_id"]) not in self.by_image:
                raise ValueError(f"{path}: annotation {ann.get('id')} names unknown image {ann['image_id']}")
            self.by_image[int(ann["image_id"])].append(ann)


class COCODataset(OfficialDataset):
    """MS COCO ``year`` ("2014" or "2017") under ``root`` (see the module docstring). Image ids are
    ``(folder, image id)`` pairs.

    Raises:
        FileNotFoundError: no ``annotations/`` folder. ValueError: an unknown year.
    """

    multi_label = True

    def __init__(self, root: str | os.PathLike, year: str = "2014"):
        year = check_year(year, ("2014", "2017"), "MS COCO")
        self.year, self.name = year, f"coco{year}"
        self.root = Path(root)
        if not (self.root / "annotations").is_dir():
            raise FileNotFoundError(
                f"no MS COCO under {str(self.root)!r}: expected annotations/instances_val{year}.json and "
                f"the image folders train{year}/, val{year}/"
            )
        self._files: dict[str, _Instances] = {}
        self._category_ids: list[int] | None = None

    # -- annotation files --------------------------------------------------------------------------
    def instances(self, name: str) -> _Instances:
        """The JSON ``annotations/<name>.json`` (loaded once); its categories must match the others'."""
        if name not in self._files:
            inst = _Instances(self.root / "annotations" / f"{name}.json")
            ids = [c for c, _ in inst.categories]
            if self._category_ids is None:
                self._category_ids = ids
                self.class_names = tuple(n for _, n in inst.categories)
            elif ids != self._category_ids:
                raise ValueError(f"{inst.path} has other categories than the dataset's other files")
            self._files[name] = inst
        return self._files[name]

    @property
    def class_names(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._category_ids is None:
            self.instances(f"instances_val{self.year}")
        return self._names

    @class_names.setter
    def class_names(self, value: tuple[str, ...]) -> None:
        self._names = value

    def _split_files(self) -> tuple[str, str] | None:
        names = (f"train{self.year}_train_split", f"train{self.year}_val_split")
        if all((self.root / "annotations" / f"{n}.json").is_file() for n in names):
            return names
        return None

    # -- splits ------------------------------------------------------------------------------------
    def _ids(self, name: str) -> list[tuple[str, int]]:
        return [(name, i) for i in sorted(self.instances(name).images)]

    def test_ids(self) -> list[tuple[str, int]]:
        return self._ids(f"instances_val{self.year}")

    def train_val_ids(self, val_fraction: float = 0.1, seed: int = 0):
        """The Explainer's split files when both exist, else ``instances_train<year>`` with a seeded
        ``val_fraction`` held out for validation."""
        files = self._split_files()
        if files is not None:
            return self._ids(files[0]), self._ids(files[1])
        ids = self._ids(f"instances_train{self.year}")
        held = carve(len(ids), val_fraction, seed)
        return [i for i, h in zip(ids, held) if not h], [i for i, h in zip(ids, held) if h]

    # -- per image ---------------------------------------------------------------------------------
    def image(self, key: tuple[str, int]) -> dict[str, Any]:
        return self.instances(key[0]).images[key[1]]

    def annotations(self, key: tuple[str, int]) -> list[dict[str, Any]]:
        return self.instances(key[0]).by_image[key[1]]

    def _image_dir(self, name: str) -> Path:
        split = "val" if name.startswith("instances_val") else "train"
        return self.root / f"{split}{self.year}"

    def paths(self, ids: Sequence[tuple[str, int]]) -> list[str]:
        return [str(self._image_dir(k[0]) / self.image(k)["file_name"]) for k in ids]

    def _index(self) -> dict[int, int]:
        self.class_names  # noqa: B018  (loads the categories)
        return {c: n for n, c in enumerate(self._category_ids or [])}

    def targets(self, ids: Sequence[tuple[str, int]]) -> np.ndarray:
        """(N, C) int32 multi-hot: the categories of all annotations (crowd included) of each image."""
        index = self._index()
        out = np.zeros((len(ids), len(index)), np.int32)
        for n, k in enumerate(ids):
            for ann in self.annotations(k):
                out[n, index[int(ann["category_id"])]] = 1
        return out

    def has_masks(self, ids: Sequence) -> np.ndarray:
        return np.ones(len(ids), bool)

    def native_class_masks(self, key: tuple[str, int]) -> np.ndarray:
        """(C, height, width) bool: per class, the union of its annotations' masks at the image's size."""
        index, im = self._index(), self.image(key)
        h, w = int(im["height"]), int(im["width"])
        out = np.zeros((len(index), h, w), bool)
        for ann in self.annotations(key):
            out[index[int(ann["category_id"])]] |= annotation_mask(ann, h, w) > 0
        return out

    def class_masks(self, ids: Sequence, image_size: Any, void_as_foreground: bool = False) -> np.ndarray:
        """(N, C, H, W) bool per-class masks at ``image_size`` (COCO has no void label)."""
        size = as_size(image_size, "image_size")
        out = np.zeros((len(ids), len(self._index()), *size), bool)
        for n, key in enumerate(ids):
            native = self.native_class_masks(key)
            for c in np.flatnonzero(native.any(axis=(1, 2))):
                out[n, c] = resize_nearest(native[c], size)
        return out

    def boxes_of(self, ids: Sequence, image_size: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: ((n, 4) float32 pixel-edge boxes ``(x, y, x + w, y + h)``, scaled to ``image_size``;
        (n,) class indices)."""
        index, out = self._index(), []
        for key in ids:
            anns, im = self.annotations(key), self.image(key)
            b = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
            b[:, 2:] += b[:, :2]
            if image_size is not None and len(b):
                b = scale_boxes(b, (int(im["height"]), int(im["width"])), as_size(image_size, "image_size"))
            out.append((b, np.array([index[int(a["category_id"])] for a in anns], np.int64)))
        return out
