"""Synthetic 3D volumes with exact masks: :class:`SyntheticVolumes` and :func:`make_volumes`.

Single-channel (N, D, H, W, 1) uint8 volumes with a rotated 3D shape (:data:`VOLUME_SHAPE_NAMES`) in
textured noise with small blob distractors, masks (N, D, H, W); deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hrcam.arrays import check_int, interp_matrix
from hrcam.data.pipeline import InMemoryData

__all__ = ["VOLUME_SHAPE_NAMES", "SyntheticVolumes", "make_volumes"]

#: The 3D shape classes, in class-index order.
VOLUME_SHAPE_NAMES = ("sphere", "cube", "torus", "cylinder", "cross")

_VOL_CHUNK = 8


@dataclass
class SyntheticVolumes(InMemoryData):
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

    _inputs = "volumes"  # what dataset() batches (a class attribute, not a field)

    def __len__(self) -> int:
        return int(self.volumes.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


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
    n = check_int(n, "n", 1)
    s = check_int(size, "size", 16, 128)
    num_classes = check_int(num_classes, "num_classes", 2, len(VOLUME_SHAPE_NAMES))
    seed = check_int(seed, "seed", 0)
    distractors = check_int(distractors, "distractors", 0)
    f32 = np.float32
    zz, yy, xx = np.mgrid[0:s, 0:s, 0:s].astype(f32) + 0.5
    grid = 4
    interp = interp_matrix(s, grid)
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
