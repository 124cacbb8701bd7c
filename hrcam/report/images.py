"""The images a report shows and what is known about them: labels, exact masks, boxes, file names.

:class:`ReportImages` holds the images at the model's input size (what the map sources see) and, for files,
the images at their own resolution (what the overlays are drawn on). Loaders: :func:`from_synthetic`
(hrcam's scenes, with exact masks and boxes), :func:`from_folder` (the ImageNet layout: labels, and boxes /
masks where the folder has them), :func:`from_files` (any image files, a folder of them or a list file; no
ground truth).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ReportImages", "from_synthetic", "from_folder", "from_files", "image_paths", "DISPLAY_MAX_SIDE"]

DISPLAY_MAX_SIDE = 1024
"""Images shown larger than this (longer side, px) are scaled down for the report."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass
class ReportImages:
    """Images and their ground truth.

    Attributes:
        images: (N, H, W, 3) uint8 at the model's input size.
        names: N names (file stems, ``scene003``).
        labels: (N,) int true classes, or None.
        class_names: names of the classes, or None.
        masks: (N, H, W) bool exact object masks (IoU, PxAP), or None.
        boxes: N arrays (n_i, 4) of pixel-edge boxes at the model's size (box IoU; n_i may be 0), or None.
        display: N (H_i, W_i, 3) uint8 images at their own resolution (files), or None (``images``).
    """

    images: np.ndarray
    names: list[str]
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    masks: np.ndarray | None = None
    boxes: list[np.ndarray] | None = None
    display: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.images)
        if x.ndim != 4 or x.shape[-1] != 3 or len(x) == 0:
            raise ValueError(f"`images` must be (N, H, W, 3) with N >= 1, got shape {x.shape}")
        if x.dtype != np.uint8:
            x = np.clip(np.round(x.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
        self.images, n = x, len(x)
        self.names = [str(s) for s in self.names]
        for what, value in (("names", self.names), ("boxes", self.boxes), ("display", self.display)):
            if value is not None and len(value) != n:
                raise ValueError(f"`{what}` has {len(value)} entries for {n} images")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(np.int64)
            if self.labels.shape != (n,):
                raise ValueError(f"`labels` must be ({n},) class indices, got shape {self.labels.shape}")
        if self.masks is not None:
            self.masks = np.asarray(self.masks).astype(bool)
            if self.masks.shape != x.shape[:3]:
                raise ValueError(f"`masks` must be (N, H, W) = {x.shape[:3]}, got shape {self.masks.shape}")

    def __len__(self) -> int:
        return len(self.images)

    def shown(self, i: int) -> np.ndarray:
        """Image ``i`` as the report draws it (its own resolution for files)."""
        return self.display[i] if self.display is not None else self.images[i]

    def class_name(self, c: int | None) -> str | None:
        if c is None:
            return None
        return self.class_names[c] if self.class_names and 0 <= c < len(self.class_names) else str(c)

    def subset(self, n: int) -> ReportImages:
        """The first ``n`` images."""
        return ReportImages(
            self.images[:n],
            self.names[:n],
            None if self.labels is None else self.labels[:n],
            self.class_names,
            None if self.masks is None else self.masks[:n],
            None if self.boxes is None else self.boxes[:n],
            None if self.display is None else self.display[:n],
        )


def from_synthetic(n: int, image_size: int, num_classes: int, seed: int = 12345) -> ReportImages:
    """``n`` synthetic scenes (:func:`hrcam.data.make_scenes`) with their exact masks and boxes."""
    from hrcam.data.synthetic import make_scenes

    scenes = make_scenes(n, image_size=image_size, num_classes=num_classes, seed=seed)
    return ReportImages(
        scenes.images,
        [f"scene{i:03d}" for i in range(n)],
        np.asarray(scenes.labels),
        list(scenes.class_names),
        np.asarray(scenes.masks, bool),
        [np.asarray(b, np.float32) for b in scenes.boxes],
    )


def _display(path: str, max_side: int) -> np.ndarray:
    from hrcam.data.folder import load_image_files

    image = load_image_files([path], None, check=False)[0]
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        from PIL import Image

        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return image


def image_paths(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Image files from files, folders (their image files, sorted) and ``.txt`` lists (one path a line,
    relative to the list). FileNotFoundError names a missing path; ValueError when none is an image."""
    out: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(str(f) for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.suffix.lower() == ".txt" and p.is_file():
            lines = [s.strip() for s in p.read_text(encoding="utf-8").splitlines()]
            out += [
                str(p.parent / s) if not os.path.isabs(s) else s for s in lines if s and not s.startswith("#")
            ]
        elif p.is_file():
            out.append(str(p))
        else:
            raise FileNotFoundError(f"image path {str(p)!r} does not exist")
    if not out:
        raise ValueError(
            f"no image files in {[str(i) for i in inputs]} (expected {', '.join(IMAGE_SUFFIXES)})"
        )
    return out


def from_files(
    inputs: Sequence[str | os.PathLike],
    size: tuple[int, int],
    limit: int | None = None,
    max_side: int = DISPLAY_MAX_SIDE,
) -> ReportImages:
    """Image files (see :func:`image_paths`), loaded at ``size`` for the model and at their own resolution
    (at most ``max_side``) for the overlays; no ground truth."""
    from hrcam.data.folder import load_image_files
    from hrcam.plotting.overlays import unique_stems

    paths = image_paths(inputs)[:limit]
    return ReportImages(
        load_image_files(paths, size),
        unique_stems(paths),
        display=[_display(p, max_side) for p in paths],
    )


def from_folder(
    root: str | os.PathLike,
    size: tuple[int, int],
    split: str | None = None,
    bbox_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    max_side: int = DISPLAY_MAX_SIDE,
) -> ReportImages:
    """A split of a folder dataset (the ImageNet layout): images, labels, class names, boxes where
    ``ROOT/bbox/<split>`` (or ``bbox_dir``) exists, exact masks where ``ROOT/masks/<split>`` exists."""
    from hrcam.data.folder import FolderDataset, load_image_files

    folder = FolderDataset(root, bbox_dir=bbox_dir)
    split = split or ("val" if folder.has_split("val") else "test")
    files, labels = folder.files(split)[:limit], folder.labels(split)[:limit]
    n = len(files)
    if n == 0:
        raise ValueError(f"{root}: split {split!r} has no images")
    boxes = masks = None
    split_name = folder.split_dir(split).name
    if bbox_dir is not None or (Path(root) / "bbox" / split_name).is_dir():
        boxes = [np.asarray(b, np.float32) for b in folder.boxes(split, image_size=size)[:n]]
    if (Path(root) / "masks" / split_name).is_dir():
        masks = folder.masks(split, image_size=size)[:n]
    from hrcam.plotting.overlays import unique_stems

    return ReportImages(
        load_image_files(files, size),
        unique_stems(files),
        labels,
        list(folder.class_labels),
        masks,
        boxes,
        [_display(p, max_side) for p in files],
    )
