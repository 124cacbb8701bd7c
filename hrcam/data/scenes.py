"""Synthetic 2D scenes with exact masks and boxes: :class:`SyntheticScenes` and :func:`make_scenes`.

See :mod:`hrcam.data.synthetic` for what the scenes hold and how they are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hrcam.arrays import check_int, masks_to_boxes
from hrcam.data.painting import CUE_COLORS, SCENE_CHUNK, SHAPE_NAMES, render_chunk
from hrcam.data.pipeline import InMemoryData

__all__ = ["SHAPE_NAMES", "CUE_COLORS", "SyntheticScenes", "make_scenes"]

_MIN_SIZE, _MAX_SIZE = 32, 224


@dataclass
class SyntheticScenes(InMemoryData):
    """Synthetic 2D scenes and their exact ground truth.

    Attributes:
        images: (N, H, W, 3) uint8.
        labels: (N,) int32 class indices; multi-label: (N, C) int32 multi-hot (1 = the class is visible).
        masks: (N, H, W) bool object pixels; multi-label: (N, C, H, W) bool, one mask per class.
        boxes: N arrays (n_i, 4) float32, tight pixel-edge boxes (x0, y0, x1, y1) of the visible objects.
        box_labels: N arrays (n_i,) int32, the class of each box.
        class_names: the C class names (:data:`SHAPE_NAMES` prefix).
        cue: (N,) bool, whether the image carries the spurious corner cue.
        multi_label: whether labels/masks have the class axis.
        seed: the generating seed.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    box_labels: list[np.ndarray]
    class_names: tuple[str, ...]
    cue: np.ndarray
    multi_label: bool = False
    seed: int = 0
    cue_size: int = field(default=0, repr=False)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"SyntheticScenes(n={len(self)}, image_size={self.image_size}, classes={list(self.class_names)}, "
            f"multi_label={self.multi_label}, cue_fraction={float(self.cue.mean()) if len(self) else 0:.2f})"
        )

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: Any) -> SyntheticScenes:
        """The scenes at ``index`` (a slice, int array or bool mask) as a new :class:`SyntheticScenes`."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return SyntheticScenes(
            images=self.images[idx],
            labels=self.labels[idx],
            masks=self.masks[idx],
            boxes=[self.boxes[i] for i in idx],
            box_labels=[self.box_labels[i] for i in idx],
            class_names=self.class_names,
            cue=self.cue[idx],
            multi_label=self.multi_label,
            seed=self.seed,
            cue_size=self.cue_size,
        )


def make_scenes(
    n: int,
    image_size: int = 64,
    num_classes: int = 6,
    seed: int = 0,
    multi_label: bool = False,
    objects_per_image: tuple[int, int] = (2, 3),
    spurious_cue: float = 0.0,
    distractors: int = 3,
    sensor_noise: bool = True,
) -> SyntheticScenes:
    """Generate ``n`` synthetic scenes with exact masks and boxes (see the module docstring).

    Args:
        n: number of scenes (>= 1).
        image_size: side S of the square images, 32 to 224.
        num_classes: C shape classes, 2 to 8 (:data:`SHAPE_NAMES` prefix).
        seed: the generator seed (int >= 0).
        multi_label: several objects of distinct classes per image; labels become (N, C) multi-hot and masks
            (N, C, H, W).
        objects_per_image: (min, max) objects per image for multi-label scenes (inclusive, max <= C).
        spurious_cue: probability in [0, 1] of the class-coloured corner patch.
        distractors: number of non-class clutter items per image (lines and blobs), >= 0.
        sensor_noise: add Gaussian pixel noise over everything (default). ``False`` gives the same scenes
            without it: every object pixel then has exactly the object's colour (useful to test masks).

    Returns:
        :class:`SyntheticScenes` with images uint8 (N, S, S, 3), labels, masks, boxes, box_labels, cue.

    Raises:
        TypeError / ValueError naming the argument for out-of-range values.
    """
    n = check_int(n, "n", 1)
    size = check_int(image_size, "image_size", _MIN_SIZE, _MAX_SIZE)
    num_classes = check_int(num_classes, "num_classes", 2, len(SHAPE_NAMES))
    seed = check_int(seed, "seed", 0)
    distractors = check_int(distractors, "distractors", 0)
    if (
        isinstance(spurious_cue, bool)
        or not isinstance(spurious_cue, (int, float))
        or not 0 <= spurious_cue <= 1
    ):
        raise ValueError(f"`spurious_cue` must be a probability in [0, 1], got {spurious_cue!r}")
    if multi_label:
        try:
            lo, hi = (int(x) for x in objects_per_image)
        except (TypeError, ValueError):
            raise TypeError(
                f"`objects_per_image` must be (min, max) ints, got {objects_per_image!r}"
            ) from None
        if not 1 <= lo <= hi <= num_classes:
            raise ValueError(
                f"`objects_per_image` must satisfy 1 <= min <= max <= num_classes={num_classes}, "
                f"got {objects_per_image!r}"
            )
        objects_per_image = (lo, hi)
    cue_size = max(3, size // 8)

    images, masks, first, cue = [], [], [], []
    for chunk in range(-(-n // SCENE_CHUNK)):
        rng = np.random.default_rng((seed, chunk, 2))
        im, vis, cls, cu = render_chunk(
            rng,
            size,
            num_classes,
            bool(multi_label),
            objects_per_image,
            float(spurious_cue),
            distractors,
            cue_size,
            bool(sensor_noise),
        )
        take = min(SCENE_CHUNK, n - chunk * SCENE_CHUNK)
        images.append(im[:take])
        masks.append(vis[:take] if multi_label else vis[np.arange(take), cls[:take]])
        first.append(cls[:take])
        cue.append(cu[:take])
    images_a = np.concatenate(images)
    masks_a = np.concatenate(masks)
    cue_a = np.concatenate(cue)
    if multi_label:
        labels = masks_a.any(axis=(2, 3)).astype(np.int32)  # (N, C): classes with visible pixels
        all_boxes = masks_to_boxes(masks_a.reshape(-1, size, size)).reshape(n, num_classes, 4)
        box_labels = [np.flatnonzero(row).astype(np.int32) for row in labels]
        boxes = [all_boxes[i, bl] for i, bl in enumerate(box_labels)]
    else:
        labels = np.concatenate(first).astype(np.int32)
        all_boxes = masks_to_boxes(masks_a)
        boxes = [all_boxes[i : i + 1] for i in range(n)]
        box_labels = [labels[i : i + 1].copy() for i in range(n)]
    return SyntheticScenes(
        images=images_a,
        labels=labels,
        masks=masks_a,
        boxes=boxes,
        box_labels=box_labels,
        class_names=tuple(SHAPE_NAMES[:num_classes]),
        cue=cue_a,
        multi_label=bool(multi_label),
        seed=seed,
        cue_size=cue_size,
    )
