"""PASCAL VOC 2007 / 2012 in the official layout, read from a local folder (``--data voc2007:ROOT``).

Layout (``ROOT`` is the folder holding ``VOCdevkit/``, ``VOCdevkit/`` itself, or ``VOC2007/`` itself)::

    VOCdevkit/VOC2007/JPEGImages/<id>.jpg
    VOCdevkit/VOC2007/Annotations/<id>.xml           <object>: <name>, <difficult>, <bndbox> (1-based)
    VOCdevkit/VOC2007/SegmentationClass/<id>.png     palette PNG: 0 background, 1..20 the classes, 255 void
    VOCdevkit/VOC2007/ImageSets/Main/{train,val,trainval,test}.txt
    VOCdevkit/VOC2007/ImageSets/Segmentation/{train,val,trainval,test}.txt

Read as the Explainer's original read it (torchvision's ``VOCDetection``): the multi-label targets of an image
are the classes of every object of its annotation, "difficult" ones included; the 20 classes in the official
order (:data:`VOC_CLASSES`). Splits:

* ``test``: the images of ``ImageSets/Segmentation/test.txt`` (VOC 2007's test images with masks; the
  original's segmentation evaluation), or ``Segmentation/val.txt`` where there is no test list (VOC 2012,
  whose test annotations are not public);
* ``train`` / ``val``: ``ImageSets/Main/train.txt`` / ``val.txt`` without the test images.

Masks are the ``SegmentationClass`` PNGs (:func:`hrcam.data.mask_files.class_masks_from_index`): class c is
palette index c + 1, 255 (the object borders) is void: no class's mask unless ``void_as_foreground``
(the original's rule, ``> 0`` after a greyscale conversion). Boxes come from the XML (1-based inclusive ->
hrcam's pixel-edge boxes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.arrays import as_size, scale_boxes
from hrcam.data.layouts import OfficialDataset, check_year, read_index_png

__all__ = ["VOC_CLASSES", "VOCDataset", "find_voc_root"]

VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def find_voc_root(root: str | os.PathLike, year: str) -> Path:
    """The ``VOC<year>`` folder under ``root`` (``root`` itself, ``root/VOC<year>`` or
    ``root/VOCdevkit/VOC<year>``). Raises FileNotFoundError naming the places looked at."""
    root = Path(root)
    tried = [root, root / f"VOC{year}", root / "VOCdevkit" / f"VOC{year}"]
    for cand in tried:
        if (cand / "JPEGImages").is_dir() and (cand / "Annotations").is_dir():
            return cand
    raise FileNotFoundError(
        f"no PASCAL VOC {year} under {str(root)!r}: expected JPEGImages/ and Annotations/ in one of "
        + ", ".join(str(t) for t in tried)
    )


def _read_list(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


class VOCDataset(OfficialDataset):
    """PASCAL VOC ``year`` ("2007" or "2012") under ``root`` (see the module docstring).

    Raises:
        FileNotFoundError: no VOC folder under ``root``. ValueError: an unknown year.
    """

    multi_label = True

    def __init__(self, root: str | os.PathLike, year: str = "2007"):
        year = check_year(year, ("2007", "2012"), "PASCAL VOC")
        self.year, self.name = year, f"voc{year}"
        self.root = find_voc_root(root, year)
        self.class_names = VOC_CLASSES
        self._annotations: dict[str, dict[str, Any]] = {}

    # -- splits ------------------------------------------------------------------------------------
    def image_set(self, name: str, task: str = "Main") -> list[str]:
        """The ids of ``ImageSets/<task>/<name>.txt`` (FileNotFoundError naming the file if absent)."""
        path = self.root / "ImageSets" / task / f"{name}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"PASCAL VOC image set {path} does not exist")
        return _read_list(path)

    def test_ids(self) -> list[str]:
        seg = self.root / "ImageSets" / "Segmentation"
        name = "test" if (seg / "test.txt").is_file() else "val"
        return self.image_set(name, "Segmentation")

    def train_val_ids(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
        """``Main/train`` and ``Main/val`` without the test images (VOC has an official validation split:
        ``val_fraction`` and ``seed`` are not used)."""
        test = set(self.test_ids())
        return [[i for i in self.image_set(name) if i not in test] for name in ("train", "val")]  # type: ignore[return-value]

    # -- per image ---------------------------------------------------------------------------------
    def annotation(self, image_id: str) -> dict[str, Any]:
        """``{"names": [...], "difficult": (n,) bool, "boxes": (n, 4) pixel-edge, "height", "width"}`` of
        ``Annotations/<id>.xml`` (cached)."""
        if image_id not in self._annotations:
            import xml.etree.ElementTree as ET

            from hrcam.data.bbox import read_voc_xml

            path = self.root / "Annotations" / f"{image_id}.xml"
            ann = read_voc_xml(path, one_based=True)
            objects = [o for o in ET.parse(path).getroot().iter("object") if o.find("bndbox") is not None]
            ann["difficult"] = np.array([(o.findtext("difficult") or "0").strip() == "1" for o in objects])
            self._annotations[image_id] = ann
        return self._annotations[image_id]

    def paths(self, ids: Sequence[str]) -> list[str]:
        return [str(self.root / "JPEGImages" / f"{i}.jpg") for i in ids]

    def targets(self, ids: Sequence[str]) -> np.ndarray:
        """(N, 20) int32 multi-hot: the classes of every object of each annotation (difficult included)."""
        out = np.zeros((len(ids), len(VOC_CLASSES)), np.int32)
        for n, i in enumerate(ids):
            for name in self.annotation(i)["names"]:
                if name not in VOC_CLASSES:
                    raise ValueError(f"{self.root / 'Annotations' / i}.xml: unknown class {name!r}")
                out[n, VOC_CLASSES.index(name)] = 1
        return out

    def segmentation_file(self, image_id: str) -> Path:
        return self.root / "SegmentationClass" / f"{image_id}.png"

    def has_masks(self, ids: Sequence[str]) -> np.ndarray:
        return np.array([self.segmentation_file(i).is_file() for i in ids], bool)

    def index_mask(self, image_id: str) -> np.ndarray:
        """The ``SegmentationClass`` PNG of ``image_id`` as (H, W) palette indices (0, 1..20, 255)."""
        path = self.segmentation_file(image_id)
        if not path.is_file():
            raise FileNotFoundError(f"PASCAL VOC segmentation {path} does not exist")
        return read_index_png(path)

    def class_masks(
        self, ids: Sequence[str], image_size: Any, void_as_foreground: bool = False
    ) -> np.ndarray:
        """(N, 20, H, W) bool masks from the ``SegmentationClass`` PNGs, at ``image_size``; each image's
        targets (:meth:`targets`) decide which classes the void border joins when ``void_as_foreground``."""
        from hrcam.data.mask_files import class_masks_from_index

        size = as_size(image_size, "image_size")
        labels = self.targets(ids)
        return (
            np.stack(
                [
                    class_masks_from_index(
                        self.index_mask(i), len(VOC_CLASSES), size, void_as_foreground, labels[n], str(i)
                    )
                    for n, i in enumerate(ids)
                ]
            )
            if len(ids)
            else np.zeros((0, len(VOC_CLASSES), *size), bool)
        )

    def boxes_of(self, ids: Sequence[str], image_size: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: ((n, 4) float32 pixel-edge boxes, scaled to ``image_size``; (n,) int class indices)."""
        out = []
        for i in ids:
            ann = self.annotation(i)
            boxes = np.asarray(ann["boxes"], np.float32)
            if image_size is not None and len(boxes):
                boxes = scale_boxes(boxes, (ann["height"], ann["width"]), as_size(image_size, "image_size"))
            out.append((boxes, np.array([VOC_CLASSES.index(n) for n in ann["names"]], np.int64)))
        return out
