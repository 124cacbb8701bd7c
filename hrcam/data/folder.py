"""Folder datasets in the ImageNet layout, and the file -> tf.data pipeline.

Layout::

    ROOT/classes.txt                       optional: one class a line, "<folder name> <human-readable name>"
    ROOT/train/<class>/<stem>.<ext>        training images (ext: jpg/jpeg/png in any case, e.g. .JPEG)
    ROOT/val/<class>/<stem>.<ext>          held-out images (``test/`` is accepted when ``val/`` is absent)
    ROOT/bbox/val/<stem>.xml               boxes (VOC / ImageNet XML), flat ...
    ROOT/bbox/train/<class>/<stem>.xml     ... or one folder per class
    ROOT/masks/<split>/<class>/<stem>.png  optional exact masks (synthetic data written by ``write_folder``)

Class order: the lines of ``classes.txt`` *in file order* (the first whitespace/TAB-separated token is the
folder name, the rest a human-readable label; Tiny ImageNet's file is not sorted), otherwise the sorted
folder names. Files within a class are sorted by name, so ``files(split)`` is deterministic.

``val/`` is the held-out test set: pick models on :meth:`FolderDataset.split_train_val`, a stratified,
seeded split of ``train/``.

Images are decoded with ``tf.io.decode_image(channels=3, expand_animations=False)`` (JPEG, PNG, also GIF
and BMP): grayscale is repeated to RGB, an alpha channel is dropped (not composited), then the image is
resized to ``image_size`` (bilinear, antialiased; exact when the size already matches). Boxes follow
hrcam's pixel-edge convention (:mod:`hrcam.arrays`; the XML files' inclusive indices are converted by
:mod:`hrcam.data.bbox`). Decoding and loading image files: :mod:`hrcam.data.images` (re-exported here).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.arrays import as_size, scale_boxes
from hrcam.data.bbox import read_voc_xml
from hrcam.data.images import check_images_readable, decode_image_file, load_image_files
from hrcam.data.pipeline import finish_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderDataset",
    "read_classes_file",
    "make_dataset",
    "decode_image_file",
    "check_images_readable",
    "load_image_files",
]

#: File name suffixes (compared in lower case) that are listed as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

_SPLIT_ALIASES = {"val": ("val", "test"), "test": ("test", "val"), "train": ("train",)}


def read_classes_file(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Parse a ``classes.txt``: ``(folder_names, human_labels)`` in file order.

    Each non-blank line is ``<folder name><whitespace or TAB><label>``; the label defaults to the folder name.
    Lines starting with ``#`` are comments.

    Raises:
        FileNotFoundError: missing file. ValueError: no classes, or a folder name listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classes file {path} does not exist")
    names, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        names.append(parts[0])
        labels.append(parts[1].strip() if len(parts) > 1 else parts[0])
    if not names:
        raise ValueError(f"classes file {path} lists no classes (expected '<folder> <name>' lines)")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"classes file {path} lists {dup} more than once")
    return names, labels


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS


class FolderDataset:
    """A dataset in the ImageNet folder layout (see the module docstring).

    Args:
        root: the dataset root (contains ``train/`` and/or ``val/`` or ``test/``).
        classes_file: a ``classes.txt`` to use; defaults to ``ROOT/classes.txt`` when it exists, else the
            sorted folder names of the first existing split (train, val, test).
        bbox_dir: default directory of box XML files for :meth:`boxes` (else ``ROOT/bbox/<split>``).

    Attributes:
        root: ``Path``; class_names: folder names (wnids) in class-index order; class_labels: human-readable
        names; num_classes.

    Raises:
        FileNotFoundError: ``root`` or ``classes_file`` missing, or no split folder under ``root``.
        ValueError: no classes.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        classes_file: str | os.PathLike | None = None,
        bbox_dir: str | os.PathLike | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset root {self.root} does not exist or is not a directory")
        splits = [s for s in ("train", "val", "test") if (self.root / s).is_dir()]
        if not splits:
            raise FileNotFoundError(
                f"dataset root {self.root} has no split folder: expected {self.root}/train/<class>/* "
                f"and/or {self.root}/val/<class>/* (or test/)"
            )
        if classes_file is None and (self.root / "classes.txt").is_file():
            classes_file = self.root / "classes.txt"
        if classes_file is not None:
            self.classes_file: Path | None = Path(classes_file)
            self.class_names, self.class_labels = read_classes_file(self.classes_file)
        else:
            self.classes_file = None
            first = self.root / splits[0]
            self.class_names = sorted(
                p.name for p in first.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
            if not self.class_names:
                raise ValueError(f"{first} has no class folders (expected {first}/<class>/<images>)")
            self.class_labels = list(self.class_names)
        self.bbox_dir = Path(bbox_dir) if bbox_dir is not None else None
        self._index = {n: i for i, n in enumerate(self.class_names)}
        self._listing: dict[str, tuple[list[str], np.ndarray]] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return f"FolderDataset(root={str(self.root)!r}, num_classes={self.num_classes})"

    def class_index(self, name: str) -> int:
        """Index of a class given its folder name (wnid) or human-readable label."""
        if name in self._index:
            return self._index[name]
        for i, label in enumerate(self.class_labels):
            if name == label or name in [s.strip() for s in label.split(",")]:
                return i
        raise KeyError(f"no class named {name!r} in {self.root} (folder names: {self.class_names[:10]}...)")

    def split_dir(self, split: str) -> Path:
        """The folder of ``split`` ("train", "val" or "test"; val and test stand in for each other)."""
        if split not in _SPLIT_ALIASES:
            raise ValueError(f"`split` must be one of 'train', 'val', 'test', got {split!r}")
        for name in _SPLIT_ALIASES[split]:
            if (self.root / name).is_dir():
                return self.root / name
        raise FileNotFoundError(
            f"{self.root} has no {' or '.join(_SPLIT_ALIASES[split])} folder for split {split!r}"
        )

    def has_split(self, split: str) -> bool:
        try:
            self.split_dir(split)
        except FileNotFoundError:
            return False
        return True

    def _list(self, split: str) -> tuple[list[str], np.ndarray]:
        if split in self._listing:
            return self._listing[split]
        d = self.split_dir(split)
        folders = {p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")}
        unknown = sorted(folders - set(self.class_names))
        if unknown:
            src = self.classes_file or "the class list"
            raise ValueError(f"{d} has class folders {unknown[:10]} that are not in {src}")
        missing = [c for c in self.class_names if c not in folders]
        if missing:
            raise ValueError(f"{d} lacks folders for classes {missing[:10]} (expected {d}/<class>/<images>)")
        files: list[str] = []
        labels: list[int] = []
        for i, c in enumerate(self.class_names):
            found = sorted(str(p) for p in (d / c).iterdir() if _is_image(p))
            if not found:
                raise ValueError(
                    f"class folder {d / c} has no images (expected files ending in "
                    f"{', '.join(IMAGE_EXTENSIONS)}, any case)"
                )
            files += found
            labels += [i] * len(found)
        result = (files, np.asarray(labels, np.int32))
        self._listing[split] = result
        return result

    def files(self, split: str = "train") -> list[str]:
        """Image paths of ``split``, class by class in class order, sorted within a class."""
        return list(self._list(split)[0])

    def labels(self, split: str = "train") -> np.ndarray:
        """(N,) int32 class indices aligned with :meth:`files`."""
        return self._list(split)[1].copy()

    def _bbox_file(self, path: Path, split_name: str, bbox_dir: Path | None) -> Path | None:
        base = bbox_dir if bbox_dir is not None else self.root / "bbox" / split_name
        for cand in (base / f"{path.stem}.xml", base / path.parent.name / f"{path.stem}.xml"):
            if cand.is_file():
                return cand
        return None

    def boxes(
        self, split: str = "val", image_size: Any = None, bbox_dir: str | os.PathLike | None = None
    ) -> list[np.ndarray]:
        """Boxes of every image of ``split``, aligned with :meth:`files`.

        Looks for ``<bbox_dir>/<stem>.xml`` then ``<bbox_dir>/<class>/<stem>.xml``, where ``bbox_dir`` is the
        argument, else the constructor's, else ``ROOT/bbox/<split folder>``.

        Args:
            image_size: int or (height, width): rescale boxes from the XML's ``<size>`` (or the image's own
                size when the XML has none) to the size the images are loaded at. ``None``: original pixels.

        Returns:
            a list of (n, 4) float32 arrays (xmin, ymin, xmax, ymax, 0-based inclusive); an image without
            an XML file gets a (0, 4) array.

        Raises:
            FileNotFoundError: the box directory does not exist.
        """
        files = self.files(split)
        split_name = self.split_dir(split).name
        bdir = Path(bbox_dir) if bbox_dir is not None else self.bbox_dir
        base = bdir if bdir is not None else self.root / "bbox" / split_name
        if not base.is_dir():
            raise FileNotFoundError(
                f"bounding-box directory {base} does not exist (expected <stem>.xml files)"
            )
        size = as_size(image_size, "image_size") if image_size is not None else None
        out = []
        for f in files:
            xml = self._bbox_file(Path(f), split_name, bdir)
            if xml is None:
                out.append(np.zeros((0, 4), np.float32))
                continue
            ann = read_voc_xml(xml)
            boxes = ann["boxes"]
            if size is not None and len(boxes):
                if ann["height"] and ann["width"]:
                    src = (ann["height"], ann["width"])
                else:
                    src = tuple(int(s) for s in tf.shape(decode_image_file(f)).numpy()[:2])
                boxes = scale_boxes(boxes, src, size)
            out.append(boxes)
        return out

    def masks(self, split: str = "val", image_size: Any = None) -> np.ndarray:
        """Exact object masks from ``ROOT/masks/<split>/<class>/<stem>.png`` -> (N, H, W) bool.

        Raises:
            FileNotFoundError: a mask file is missing (naming it).
        """
        files = self.files(split)
        split_name = self.split_dir(split).name
        mask_files = []
        for f in files:
            p = Path(f)
            m = self.root / "masks" / split_name / p.parent.name / f"{p.stem}.png"
            if not m.is_file():
                raise FileNotFoundError(f"mask file {m} for image {f} does not exist")
            mask_files.append(str(m))
        arr = load_image_files(mask_files, image_size, check=False)
        return arr[..., 0] >= 128

    def class_masks(self, files, split: str, image_size, void_as_foreground: bool = False, labels=None):
        """Per-class masks of ``files`` from class-indexed PNGs ``ROOT/masks/<split>/<stem>.png`` (VOC
        ``SegmentationClass`` style): see :func:`hrcam.data.mask_files.read_class_masks`."""
        from hrcam.data.mask_files import read_class_masks

        paths = [self.root / "masks" / self.split_dir(split).name / f"{Path(f).stem}.png" for f in files]
        return read_class_masks(paths, self.num_classes, image_size, void_as_foreground, labels)

    def split_train_val(
        self, val_fraction: float = 0.1, seed: int = 0
    ) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
        """Stratified, deterministic split of ``train/`` into training and validation (model selection) parts.

        Each class keeps ``round(n_c * val_fraction)`` images for validation (at least 1 when
        ``val_fraction > 0``, at most ``n_c - 1``), chosen by a generator seeded with ``(seed, class index)``,
        so a class's split does not depend on the other classes. Both parts keep the :meth:`files` order.

        Returns:
            ``(train_files, train_labels, val_files, val_labels)``; labels are (n,) int32.
        """
        if isinstance(val_fraction, bool) or not 0.0 <= float(val_fraction) < 1.0:
            raise ValueError(f"`val_fraction` must be in [0, 1), got {val_fraction!r}")
        files, labels = self._list("train")
        is_val = np.zeros(len(files), bool)
        for c in range(self.num_classes):
            idx = np.flatnonzero(labels == c)
            n_val = int(round(len(idx) * float(val_fraction)))
            if val_fraction > 0:
                n_val = max(1, n_val)
            n_val = min(n_val, len(idx) - 1)
            if n_val > 0:
                rng = np.random.default_rng([int(seed), c])
                is_val[rng.choice(idx, size=n_val, replace=False)] = True
        tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        return [files[i] for i in tr], labels[tr].copy(), [files[i] for i in va], labels[va].copy()

    def dataset(self, split: str, image_size: Any, batch_size: int, **kwargs: Any) -> tf.data.Dataset:
        """:func:`make_dataset` over every file of ``split``."""
        files, labels = self._list(split)
        return make_dataset(files, labels, image_size, batch_size, **kwargs)


def _as_labels(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(
            f"`labels` must be (N,) ints or (N, C) multi-hot with N={n} (one per file), got {y.shape}"
        )
    if y.dtype.kind not in "iub":
        raise TypeError(f"`labels` must be integer class indices, got dtype {y.dtype}")
    if y.ndim == 1 and y.size and y.min() < 0:
        raise ValueError(f"`labels` must be >= 0, got {int(y.min())}")
    return y.astype(np.int32)


def make_dataset(
    files: Sequence[str | os.PathLike],
    labels: Any,
    image_size: Any,
    batch_size: int,
    *,
    check: str = "header",
    **options: Any,
) -> tf.data.Dataset:
    """Image files -> batched ``tf.data.Dataset`` of ``(images, labels)``.

    Decoding runs in parallel (``num_parallel_calls=AUTOTUNE``), then the shared tail of
    :func:`hrcam.data.pipeline.finish_dataset`: optional cache, shuffle, batch, float conversion,
    augmentation (batched, in the graph) and prefetch.

    Args:
        files: N image paths (JPEG/PNG, any channel count).
        labels: (N,) int class indices (or (N, C) multi-hot).
        image_size: int or (height, width) every image is resized to.
        batch_size: images per batch.
        **options: the keyword options of :func:`hrcam.data.pipeline.finish_dataset` (``shuffle``,
            ``augment``, ``cache``, ``seed``, ``drop_remainder``, ``one_hot``, ``deterministic``).
        check: ``"header"`` (default) checks that every file exists and has an image signature before
            building the pipeline; ``"decode"`` also decodes every file once (:func:`check_images_readable`);
            ``"none"`` skips checks.

    Returns:
        a dataset yielding ``images`` float32 (B, H, W, 3) in [0, 1] and ``labels`` int32 (B,)
        (float32 (B, C) with ``one_hot=C``).

    Raises:
        ValueError / FileNotFoundError naming the offending files (see :func:`check_images_readable`).
    """
    if isinstance(files, (str, os.PathLike)):
        raise TypeError("`files` must be a sequence of paths, got a single path (wrap it in a list)")
    paths = [os.fspath(f) for f in files]
    if not paths:
        raise ValueError("`files` is empty: expected at least one image file")
    y = _as_labels(labels, len(paths))
    size = as_size(image_size, "image_size")
    if check not in ("none", "header", "decode"):
        raise ValueError(f"`check` must be 'none', 'header' or 'decode', got {check!r}")
    if check != "none":
        check_images_readable(paths, decode=check == "decode")
    ds = tf.data.Dataset.from_tensor_slices((paths, y))
    return finish_dataset(
        ds,
        num_examples=len(paths),
        batch_size=batch_size,
        decode=lambda p: decode_image_file(p, size),
        **options,
    )
