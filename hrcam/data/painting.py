"""Painting synthetic 2D scenes: the shape classes' inside tests, object placement, one chunk of scenes.

Internal to :func:`hrcam.data.scenes.make_scenes` (NumPy only, vectorised over a chunk of images).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hrcam.arrays import interp_matrix

#: The 2D shape classes, in class-index order.
SHAPE_NAMES = ("circle", "square", "triangle", "cross", "ring", "star", "ellipse", "crescent")

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

SCENE_CHUNK = 64  # images per generation chunk (fixed: part of what the seed means)


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


def render_chunk(
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
    """One chunk of ``SCENE_CHUNK`` scenes -> images (n,S,S,3) uint8, visible (n,C,S,S) bool, first class,
    cue."""
    n, s, c_count = SCENE_CHUNK, size, num_classes
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
    interp = interp_matrix(s, grid)
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
