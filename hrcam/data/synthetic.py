"""Synthetic scenes with exact masks: the built-in data for the demo and the tests.

2D scenes (:func:`make_scenes`): one object (or several, ``multi_label=True``) from K shape classes
(:data:`SHAPE_NAMES`: circle, square, triangle, cross, ring, star, ellipse, crescent) with random colour,
size, position and rotation, painted over a cluttered, textured background (a blend of a colour gradient,
stripes and low-frequency noise between two random colours) and over *distractors* that are not a class
(thin line segments and soft Gaussian blobs), so a classifier has to find the object. Sensor noise is added
last, over everything.

Ground truth is exact by construction: ``masks`` are the pixels painted with the object's colour that stay
visible (objects are drawn last, without anti-aliasing, and later objects occlude earlier ones), and
``boxes`` are the tight boxes of those masks in hrcam's one box convention (:mod:`hrcam.arrays`: pixel-edge
``x0, y0, x1, y1``, the mask's columns ``x0..x1 - 1`` and rows ``y0..y1 - 1``). Objects lie fully inside
the image.

``spurious_cue=p``: with probability p an image carries a class-correlated background cue, a flat square
patch in the top-left corner whose colour is :data:`CUE_COLORS` ``[label]`` (first object's class in
multi-label scenes). Objects are placed clear of that corner in *every* image, so the cue, where present,
is never hidden and is the only thing that differs between cue and no-cue images.

3D volumes (:func:`make_volumes`): single-channel (N, D, H, W, 1) uint8 volumes with a rotated 3D shape
(:data:`VOLUME_SHAPE_NAMES`) in textured noise with small blob distractors, masks (N, D, H, W).

Labels are balanced: single-label scenes come in blocks of C that each hold every class once.

Determinism: everything is drawn from ``numpy.random.default_rng((seed, chunk, salt))`` in fixed chunks of
images, so the same arguments give identical arrays on every run and platform, different seeds differ, and
the first k scenes of ``make_scenes(n, seed=s)`` equal ``make_scenes(k, seed=s)``. Generation is vectorised
over each chunk (NumPy coordinate grids; Python loops only over object slots, classes and distractors).

:func:`write_folder` writes scenes in the ImageNet folder layout (PNG images, VOC XML boxes, PNG masks), so
synthetic data can also go through :class:`hrcam.data.FolderDataset`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.data.bbox import masks_to_boxes, write_voc_xml
from hrcam.data.pipeline import from_arrays
from hrcam.io import atomic_dir, write_text

__all__ = [
    "SHAPE_NAMES",
    "VOLUME_SHAPE_NAMES",
    "CUE_COLORS",
    "SyntheticScenes",
    "SyntheticVolumes",
    "make_scenes",
    "make_volumes",
    "write_folder",
]

#: The 2D shape classes, in class-index order.
SHAPE_NAMES = ("circle", "square", "triangle", "cross", "ring", "star", "ellipse", "crescent")
#: The 3D shape classes, in class-index order.
VOLUME_SHAPE_NAMES = ("sphere", "cube", "torus", "cylinder", "cross")

#: Spurious-cue patch colour per class (uint8 RGB, hues 45 degrees apart, fully saturated).
CUE_COLORS = np.array(
    [
        [255, 0, 0],
        [255, 191, 0],
        [127, 255, 0],
        [0, 255, 64],
        [0, 255, 255],
        [0, 64, 255],
        [127, 0, 255],
        [255, 0, 191],
    ],
    np.uint8,
)

_CHUNK = 64  # images per generation chunk (fixed: part of what the seed means)
_VOL_CHUNK = 8
_MIN_SIZE, _MAX_SIZE = 32, 224


# ----------------------------------------------------------------------------------------------------------
# Containers


@dataclass
class SyntheticScenes:
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

    def dataset(
        self,
        batch_size: int,
        shuffle: bool = False,
        augment: Callable[..., Any] | None = None,
        seed: int | None = 0,
        drop_remainder: bool = False,
        one_hot: bool | int | None = None,
        deterministic: bool = True,
    ) -> tf.data.Dataset:
        """A batched ``tf.data.Dataset`` of ``(images float32 (B, H, W, 3) in [0, 1], labels)``.

        Same tail as :func:`hrcam.data.make_dataset` (:func:`hrcam.data.pipeline.finish_dataset`). Labels are
        int32 (B,), float32 (B, C) one-hot with ``one_hot=True``, or float32 (B, C) multi-hot for
        multi-label scenes.
        """
        return _arrays_dataset(
            self.images,
            self.labels,
            self.num_classes,
            batch_size,
            one_hot,
            shuffle=shuffle,
            augment=augment,
            seed=seed,
            drop_remainder=drop_remainder,
            deterministic=deterministic,
        )


@dataclass
class SyntheticVolumes:
    """Synthetic 3D volumes.

    Attributes:
        volumes: (N, D, H, W, 1) uint8. labels: (N,) int32. masks: (N, D, H, W) bool.
        boxes: N arrays (1, 6) float32 (x0, y0, z0, x1, y1, z1), voxel-edge coordinates (the mask is
            ``[z0:z1, y0:y1, x0:x1]``, as 2D boxes).
        class_names: :data:`VOLUME_SHAPE_NAMES` prefix.
    """

    volumes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    class_names: tuple[str, ...]
    seed: int = 0

    def __len__(self) -> int:
        return int(self.volumes.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def dataset(
        self,
        batch_size: int,
        shuffle: bool = False,
        augment: Callable[..., Any] | None = None,
        seed: int | None = 0,
        drop_remainder: bool = False,
        one_hot: bool | int | None = None,
        deterministic: bool = True,
    ) -> tf.data.Dataset:
        """Batches ``(volumes float32 (B, D, H, W, 1) in [0, 1], labels)`` (see SyntheticScenes.dataset)."""
        return _arrays_dataset(
            self.volumes,
            self.labels,
            self.num_classes,
            batch_size,
            one_hot,
            shuffle=shuffle,
            augment=augment,
            seed=seed,
            drop_remainder=drop_remainder,
            deterministic=deterministic,
        )


def _arrays_dataset(
    arrays: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    one_hot: bool | int | None,
    **kwargs: Any,
) -> tf.data.Dataset:
    """:func:`from_arrays` with ``one_hot=True`` meaning "one-hot over ``num_classes``"."""
    if one_hot is True:
        one_hot = num_classes
    elif one_hot is False:
        one_hot = None
    return from_arrays(arrays, labels, batch_size, one_hot=one_hot, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Argument checks


def _check_int(value: Any, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"`{name}` must be in {rng}, got {value}")
    return int(value)


# ----------------------------------------------------------------------------------------------------------
# 2D shapes: inside tests in the object's frame (u, v), scaled so every shape fits in the unit disc.

_SQRT3 = np.float32(np.sqrt(3.0))


def _star(u: np.ndarray, v: np.ndarray, points: int = 5, inner: float = 0.45) -> np.ndarray:
    alpha = 2 * np.pi / points
    rho = np.sqrt(u * u + v * v)
    a = np.abs(np.mod(np.arctan2(v, u) + alpha / 2, alpha) - alpha / 2)  # angle to the nearest tip
    px, py = rho * np.cos(a), rho * np.sin(a)
    dx, dy = inner * np.cos(alpha / 2) - 1.0, inner * np.sin(alpha / 2)  # edge from the tip (1, 0) inward
    return dx * py - dy * (px - 1.0) >= 0


_SHAPES_2D: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.7071,
    "triangle": lambda u, v: (v >= -0.5) & (_SQRT3 * u + v <= 1.0) & (-_SQRT3 * u + v <= 1.0),
    "cross": lambda u, v: (
        ((np.abs(u) <= 0.95) & (np.abs(v) <= 0.3)) | ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95))
    ),
    "ring": lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.55**2),
    "star": _star,
    "ellipse": lambda u, v: u * u + (v / 0.5) ** 2 <= 1.0,
    "crescent": lambda u, v: (u * u + v * v <= 1.0) & ((u - 0.45) ** 2 + v * v > 0.8**2),
}


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights (half-pixel centres, edge-clamped)."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).astype(np.float32)
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), lo), 1 - w)
    np.add.at(m, (np.arange(n_out), hi), w)
    return m


def _place(
    rng: np.random.Generator,
    radii: np.ndarray,
    active: np.ndarray,
    size: int,
    obstacle: tuple[float, float, float],
) -> np.ndarray:
    """Object centres (n, k, 2) inside the image, clear of each other and of the corner obstacle if possible.

    For each slot, 24 candidate centres per image; the first with a clearance of >= 1 pixel wins, else
    the candidate with the largest clearance.
    """
    n, k = radii.shape
    m = 24
    centres = np.zeros((n, k, 2), np.float32)
    ox, oy, orad = obstacle
    for j in range(k):
        r = radii[:, j : j + 1]  # (n, 1)
        lo, hi = r + 1.0, size - 1.0 - r
        cand = lo[..., None] + rng.random((n, m, 2), dtype=np.float32) * (hi - lo)[..., None]
        clear = np.hypot(cand[..., 0] - ox, cand[..., 1] - oy) - orad - r  # (n, m)
        for i in range(j):
            d = np.hypot(cand[..., 0] - centres[:, i, None, 0], cand[..., 1] - centres[:, i, None, 1])
            c = d - radii[:, i : i + 1] - r
            clear = np.where(active[:, i : i + 1], np.minimum(clear, c), clear)
        ok = clear >= 1.0
        pick = np.where(ok.any(axis=1), np.argmax(ok, axis=1), np.argmax(clear, axis=1))
        centres[:, j] = cand[np.arange(n), pick]
    return centres


def _render_chunk(
    rng: np.random.Generator,
    size: int,
    num_classes: int,
    multi_label: bool,
    objects_per_image: tuple[int, int],
    spurious_cue: float,
    distractors: int,
    cue_size: int,
    sensor_noise: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One chunk of _CHUNK scenes -> images (n,S,S,3) uint8, visible (n,C,S,S) bool, first class, cue."""
    n, s, c_count = _CHUNK, size, num_classes
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5  # pixel centres
    f32 = np.float32

    # --- background: blend of gradient, stripes and low-frequency noise between two colours
    c1 = rng.uniform(0, 255, (n, 3)).astype(f32)
    c2 = rng.uniform(0, 255, (n, 3)).astype(f32)
    ang = rng.uniform(0, 2 * np.pi, (n, 2)).astype(f32)
    freq = rng.uniform(2, 7, n).astype(f32)
    phase = rng.uniform(0, 2 * np.pi, n).astype(f32)
    mix = rng.dirichlet([1.0, 1.0, 1.0], n).astype(f32)
    grid = 5
    coarse = rng.random((n, grid, grid), dtype=f32)
    sensor = rng.uniform(2.0, 8.0, n).astype(f32)

    def proj(a: np.ndarray) -> np.ndarray:
        return ((xx - s / 2) * np.cos(a)[:, None, None] + (yy - s / 2) * np.sin(a)[:, None, None]) / s

    grad = np.clip(proj(ang[:, 0]) + 0.5, 0, 1)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq[:, None, None] * proj(ang[:, 1]) + phase[:, None, None])
    interp = _interp_matrix(s, grid)
    noise = interp @ coarse @ interp.T  # (n, S, S) bilinear upsampling of the coarse grid
    t = mix[:, 0, None, None] * grad + mix[:, 1, None, None] * stripes + mix[:, 2, None, None] * noise
    img = c1[:, None, None] * (1 - t[..., None]) + c2[:, None, None] * t[..., None]

    # --- distractors (not a class): thin line segments and soft blobs
    for _ in range(distractors):
        is_line = rng.random(n) < 0.6
        p = rng.uniform(0, s, (n, 4)).astype(f32)
        width = rng.uniform(1.0, 2.5, n).astype(f32) * max(1.0, s / 64)
        sigma = rng.uniform(0.025, 0.05, n).astype(f32) * s
        col = rng.uniform(0, 255, (n, 3)).astype(f32)
        ax, ay = p[:, 0, None, None], p[:, 1, None, None]
        bx, by = p[:, 2, None, None], p[:, 3, None, None]
        ex, ey = bx - ax, by - ay
        tt = np.clip(((xx - ax) * ex + (yy - ay) * ey) / np.maximum(ex * ex + ey * ey, 1e-6), 0, 1)
        dist = np.hypot(xx - (ax + tt * ex), yy - (ay + tt * ey))
        line = (dist <= width[:, None, None] / 2).astype(f32)
        blob = 0.9 * np.exp(-((xx - ax) ** 2 + (yy - ay) ** 2) / (2 * sigma[:, None, None] ** 2))
        alpha = np.where(is_line[:, None, None], line, blob)[..., None]
        img += alpha * (col[:, None, None] - img)

    # --- objects: classes, sizes, placement, colours
    lo_k, hi_k = objects_per_image if multi_label else (1, 1)
    k_max = hi_k
    count = rng.integers(lo_k, hi_k + 1, n)
    active = np.arange(k_max)[None] < count[:, None]
    if multi_label:
        classes = np.argsort(rng.random((n, c_count)), axis=1)[:, :k_max]  # distinct classes per image
        rad_lo, rad_hi = (0.12, 0.2) if k_max > 2 else (0.14, 0.24)
    else:
        # Balanced: scenes come in blocks of C (from each chunk's start), each block a permutation of
        # the classes, so the first C scenes hold every class once.
        blocks = -(-n // c_count)
        classes = np.argsort(rng.random((blocks, c_count)), axis=1).reshape(-1)[:n, None]
        rad_lo, rad_hi = 0.16, 0.3
    radii = (rng.uniform(rad_lo, rad_hi, (n, k_max)) * s).astype(f32)
    theta = rng.uniform(0, 2 * np.pi, (n, k_max)).astype(f32)
    q = cue_size
    centres = _place(rng, radii, active, s, (q / 2, q / 2, q / np.sqrt(2)))
    # Object colour: of 4 random candidates, the one farthest from both background colours.
    cand = rng.uniform(0, 255, (n, k_max, 4, 3)).astype(f32)
    dist = np.minimum(
        np.linalg.norm(cand - c1[:, None, None], axis=-1), np.linalg.norm(cand - c2[:, None, None], axis=-1)
    )
    obj_col = np.take_along_axis(cand, np.argmax(dist, axis=-1)[..., None, None], axis=2)[:, :, 0]
    cue = rng.random(n) < spurious_cue
    fine = rng.standard_normal((n, s, s, 3), dtype=f32)

    # --- spurious cue patch (drawn before the objects, which are placed clear of it)
    if q > 0 and cue.any():
        img[cue, :q, :q] = CUE_COLORS[classes[cue, 0]][:, None, None].astype(f32)

    visible = np.zeros((n, c_count, s, s), bool)
    for j in range(k_max):
        for c in range(c_count):
            idx = np.flatnonzero(active[:, j] & (classes[:, j] == c))
            if idx.size == 0:
                continue
            dx = xx - centres[idx, j, 0, None, None]
            dy = yy - centres[idx, j, 1, None, None]
            ct, st = np.cos(theta[idx, j])[:, None, None], np.sin(theta[idx, j])[:, None, None]
            r = radii[idx, j, None, None]
            u, v = (dx * ct + dy * st) / r, (-dx * st + dy * ct) / r
            inside = _SHAPES_2D[SHAPE_NAMES[c]](u, v)
            img[idx] = np.where(inside[..., None], obj_col[idx, j, None, None], img[idx])
            visible[idx] &= ~inside[:, None]
            visible[idx, c] |= inside

    if sensor_noise:  # drawn either way, so the clean scenes are the noisy ones without the noise
        img = img + fine * sensor[:, None, None, None]
    images = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return images, visible, classes[:, 0].astype(np.int32), cue


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
    n = _check_int(n, "n", 1)
    size = _check_int(image_size, "image_size", _MIN_SIZE, _MAX_SIZE)
    num_classes = _check_int(num_classes, "num_classes", 2, len(SHAPE_NAMES))
    seed = _check_int(seed, "seed", 0)
    distractors = _check_int(distractors, "distractors", 0)
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
    for chunk in range(-(-n // _CHUNK)):
        rng = np.random.default_rng((seed, chunk, 2))
        im, vis, cls, cu = _render_chunk(
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
        take = min(_CHUNK, n - chunk * _CHUNK)
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


# ----------------------------------------------------------------------------------------------------------
# 3D volumes

_SHAPES_3D: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "sphere": lambda u, v, w: u * u + v * v + w * w <= 1.0,
    "cube": lambda u, v, w: np.maximum(np.maximum(np.abs(u), np.abs(v)), np.abs(w)) <= 0.5774,
    "torus": lambda u, v, w: (np.sqrt(u * u + v * v) - 0.65) ** 2 + w * w <= 0.3**2,
    "cylinder": lambda u, v, w: (u * u + v * v <= 0.6**2) & (np.abs(w) <= 0.8),
    "cross": lambda u, v, w: (
        ((np.abs(u) <= 0.95) & (np.abs(v) <= 0.25) & (np.abs(w) <= 0.25))
        | ((np.abs(u) <= 0.25) & (np.abs(v) <= 0.95) & (np.abs(w) <= 0.25))
        | ((np.abs(u) <= 0.25) & (np.abs(v) <= 0.25) & (np.abs(w) <= 0.95))
    ),
}


def _rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 3) uniformly random rotation matrices (QR of Gaussian matrices, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(q)
    q[:, :, 0] *= det[:, None]
    return q.astype(np.float32)


def make_volumes(
    n: int, size: int = 32, num_classes: int = 3, seed: int = 0, distractors: int = 2
) -> SyntheticVolumes:
    """Generate ``n`` single-channel 3D volumes, each with one rotated 3D shape and its exact mask.

    Args:
        n: number of volumes (>= 1).
        size: side S of the cubic volumes (D = H = W = S), 16 to 128.
        num_classes: C classes, 2 to 5 (:data:`VOLUME_SHAPE_NAMES` prefix).
        seed: generator seed (int >= 0).
        distractors: number of small Gaussian blobs (not a class) per volume.

    Returns:
        :class:`SyntheticVolumes`: volumes (N, S, S, S, 1) uint8, labels (N,) int32, masks (N, S, S, S) bool,
        boxes N x (1, 6) float32 (x0, y0, z0, x1, y1, z1), voxel edges.
    """
    n = _check_int(n, "n", 1)
    s = _check_int(size, "size", 16, 128)
    num_classes = _check_int(num_classes, "num_classes", 2, len(VOLUME_SHAPE_NAMES))
    seed = _check_int(seed, "seed", 0)
    distractors = _check_int(distractors, "distractors", 0)
    f32 = np.float32
    zz, yy, xx = np.mgrid[0:s, 0:s, 0:s].astype(f32) + 0.5
    grid = 4
    interp = _interp_matrix(s, grid)
    vols, masks, labels = [], [], []
    for chunk in range(-(-n // _VOL_CHUNK)):
        rng = np.random.default_rng((seed, chunk, 3))
        m = _VOL_CHUNK
        level = rng.uniform(60, 150, m).astype(f32)
        amp = rng.uniform(20, 50, m).astype(f32)
        coarse = rng.random((m, grid, grid, grid), dtype=f32) - 0.5
        vol = level[:, None, None, None] + amp[:, None, None, None] * 2 * np.einsum(
            "zg,ngij,yi,xj->nzyx", interp, coarse, interp, interp
        )
        for _ in range(distractors):
            p = rng.uniform(0, s, (m, 3)).astype(f32)
            sigma = rng.uniform(0.04, 0.07, m).astype(f32) * s
            val = rng.uniform(0, 255, m).astype(f32)
            d2 = (xx - p[:, 0, None, None, None]) ** 2 + (yy - p[:, 1, None, None, None]) ** 2
            d2 = d2 + (zz - p[:, 2, None, None, None]) ** 2
            alpha = 0.9 * np.exp(-d2 / (2 * sigma[:, None, None, None] ** 2))
            vol = vol * (1 - alpha) + val[:, None, None, None] * alpha
        cls = rng.permutation(np.arange(m) % num_classes)
        radius = (rng.uniform(0.2, 0.32, m) * s).astype(f32)
        centre = (radius[:, None] + 1 + rng.random((m, 3), dtype=f32) * (s - 2 - 2 * radius[:, None])).astype(
            f32
        )
        rot = _rotations(rng, m)
        sign = np.where(rng.random(m) < 0.5, -1.0, 1.0).astype(f32)
        obj_val = np.clip(level + sign * rng.uniform(60, 100, m).astype(f32), 0, 255)
        sensor = rng.uniform(3, 8, m).astype(f32)
        fine = rng.standard_normal((m, s, s, s), dtype=f32)
        inside = np.zeros((m, s, s, s), bool)
        for c in range(num_classes):
            idx = np.flatnonzero(cls == c)
            if idx.size == 0:
                continue
            d = np.stack(
                [
                    xx - centre[idx, 0, None, None, None],
                    yy - centre[idx, 1, None, None, None],
                    zz - centre[idx, 2, None, None, None],
                ],
                axis=-1,
            )
            uvw = np.einsum("nzyxi,nij->nzyxj", d, rot[idx]) / radius[idx, None, None, None, None]
            inside[idx] = _SHAPES_3D[VOLUME_SHAPE_NAMES[c]](uvw[..., 0], uvw[..., 1], uvw[..., 2])
        vol = np.where(inside, obj_val[:, None, None, None], vol) + fine * sensor[:, None, None, None]
        take = min(m, n - chunk * m)
        vols.append(np.clip(np.rint(vol[:take]), 0, 255).astype(np.uint8)[..., None])
        masks.append(inside[:take])
        labels.append(cls[:take].astype(np.int32))
    masks_a = np.concatenate(masks)
    boxes = []
    for mk in masks_a:  # tight 3D boxes, voxel edges
        zs, ys, xs = (np.flatnonzero(mk.any(axis=ax)) for ax in ((1, 2), (0, 2), (0, 1)))
        boxes.append(np.array([[xs[0], ys[0], zs[0], xs[-1] + 1, ys[-1] + 1, zs[-1] + 1]], np.float32))
    return SyntheticVolumes(
        volumes=np.concatenate(vols),
        labels=np.concatenate(labels),
        masks=masks_a,
        boxes=boxes,
        class_names=tuple(VOLUME_SHAPE_NAMES[:num_classes]),
        seed=seed,
    )


# ----------------------------------------------------------------------------------------------------------
# Writing scenes as a folder dataset


def _write_png(path: Path, array: np.ndarray) -> None:
    import cv2  # a declared dependency; imported lazily (only writing PNGs needs it)

    arr = array if array.ndim == 2 else array[..., ::-1]  # RGB -> BGR
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr))
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    path.write_bytes(buf.tobytes())


def write_folder(
    scenes: SyntheticScenes, root: str | os.PathLike, split: str = "train", overwrite: bool = False
) -> Path:
    """Write single-label scenes in the ImageNet folder layout under ``root``.

    Writes ``ROOT/<split>/<class>/<stem>.png`` (RGB), ``ROOT/bbox/<split>/<stem>.xml`` (VOC/ImageNet XML,
    0-based inclusive boxes, converted from the pixel-edge boxes),
    ``ROOT/masks/<split>/<class>/<stem>.png`` (0/255 grayscale) and
    ``ROOT/classes.txt`` (class order, since folder names do not sort in class order); ``stem`` is
    ``<split>_<index:06d>``. Each of the three split folders is built in a temporary folder and renamed into
    place (masks, then boxes, then images last), so ``ROOT/<split>`` only ever appears complete. Other splits
    already under ``root`` are kept.

    Args:
        scenes: single-label :class:`SyntheticScenes`.
        root: dataset root (created if missing).
        split: "train", "val" or "test".
        overwrite: replace an existing split; otherwise an existing split raises ``FileExistsError``.

    Returns:
        ``Path(root)``.

    Raises:
        ValueError: multi-label scenes, a bad split name, or a ``classes.txt`` listing other classes.
        FileExistsError: the split exists and ``overwrite`` is False.
    """
    if not isinstance(scenes, SyntheticScenes):
        raise TypeError(f"`scenes` must be SyntheticScenes, got {type(scenes).__name__}")
    if scenes.multi_label:
        raise ValueError("`scenes` is multi-label; the folder layout holds one class per image")
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(scenes.class_names)
    classes_txt = root / "classes.txt"
    expected = "".join(f"{c}\t{c}\n" for c in names)
    if classes_txt.exists():
        have = [
            line.split()[0] for line in classes_txt.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        if have != names:
            raise ValueError(f"{classes_txt} lists classes {have}, but the scenes have {names}")
    absent = [names[c] for c in range(len(names)) if not np.any(scenes.labels == c)]
    if absent:
        raise ValueError(
            f"`scenes` has no example of classes {absent}; a folder dataset needs every class in every split "
            f"(the first {len(names)} scenes of make_scenes hold every class once)"
        )
    targets = [root / "masks" / split, root / "bbox" / split, root / split]
    for t in targets:
        if t.exists() and not overwrite:
            raise FileExistsError(f"{t} already exists; pass overwrite=True to replace split {split!r}")
    size = (scenes.image_size, scenes.image_size)
    with contextlib.ExitStack() as stack:
        img_dir, box_dir, mask_dir = (
            stack.enter_context(atomic_dir(t, overwrite=overwrite)) for t in reversed(targets)
        )
        for name in names:
            (img_dir / name).mkdir()
            (mask_dir / name).mkdir()
        for i in range(len(scenes)):
            name = names[int(scenes.labels[i])]
            stem = f"{split}_{i:06d}"
            _write_png(img_dir / name / f"{stem}.png", scenes.images[i])
            _write_png(mask_dir / name / f"{stem}.png", scenes.masks[i].astype(np.uint8) * 255)
            box_names = [names[int(c)] for c in scenes.box_labels[i]]
            write_voc_xml(
                box_dir / f"{stem}.xml", scenes.boxes[i], box_names, size, filename=f"{stem}.png", folder=name
            )
        if not classes_txt.exists():
            write_text(classes_txt, expected)
    return root
