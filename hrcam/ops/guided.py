"""Image-guided up-sampling of low-resolution maps (no training), in TensorFlow, in the caller's graph.

A class activation map lives on the classifier's coarse grid (e.g. 8x8 or 14x14); its object boundaries are
wherever bilinear interpolation puts them. The image itself knows where the edges are. Two edge-aware steps,
both linear in the map and differentiable, that any CAM-like map can go through:

* :func:`guided_filter`: He et al.'s guided filter ("Guided Image Filtering", TPAMI 2013) with the colour
  image as guide: locally, the output is an affine function of the guide's colours, ``q = a . I + b``, fitted
  to the bilinearly up-sampled map in every ``(2r+1)^2`` window (ridge ``eps``). Box means by cumulative sums
  (O(1) per pixel for any radius); the "fast" variant (He & Sun 2015) fits ``a, b`` on a ``subsample``-times
  smaller grid and up-samples them.
* :func:`pamr`: pixel-adaptive mask refinement (Araslanov & Roth, CVPR 2020): ``iterations`` rounds of
  averaging each pixel's value over its neighbours at several dilations, weighted by a softmax of their
  local colour affinities.

:func:`guided_upsample` chains them: bilinear up-sampling of (B, k, h, w) maps to the image size, the guided
filter, then PAMR. Parameters are the caller's; hrcam's defaults (:data:`GUIDED_DEFAULTS`) were chosen on a
validation split by ``scripts/select_guided.py`` (see BENCHMARKS.md), never on test images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from hrcam.ops import resize_maps

__all__ = ["GUIDED_DEFAULTS", "box_mean", "guided_filter", "pamr", "guided_upsample", "check_guided_options"]

#: radius as a fraction of the image side, ridge eps (image in [0, 1]), PAMR iterations: chosen by
#: scripts/select_guided.py on real photographs, the tiny-imagenet-10 train carve-out that stage 1 uses for
#: validation (MaxBoxAccV2 on its boxes; never the val/ test images), from radius {1/8, 1/4} x eps {0.01, 0.1}
#: x iterations {0, 10} (BENCHMARKS.md, "High-resolution maps that beat the low-resolution CAM").
GUIDED_DEFAULTS: dict[str, Any] = {"radius": 0.125, "eps": 1e-2, "iterations": 10}
_PAMR_DILATIONS = (1, 2, 4, 8)
# Static Python loops over sizes and offsets: no AutoGraph conversion inside a caller's tf.function.
_plain = tf.autograph.experimental.do_not_convert


def check_guided_options(radius: Any, eps: Any, iterations: Any, subsample: Any = 1) -> None:
    """ValueError/TypeError naming the option when radius, eps, iterations or subsample is out of range."""
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not radius > 0:
        raise ValueError(
            f"`radius` must be a positive number (pixels if >= 1, else a fraction of the image side), "
            f"got {radius!r}"
        )
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"`eps` must be a positive number, got {eps!r}")
    for name, value, low in (("iterations", iterations, 0), ("subsample", subsample, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"`{name}` must be an int >= {low}, got {value!r}")


def _pixels(radius: float, size: int) -> int:
    """Radius in pixels: as given when >= 1, else that fraction of the image side (at least 1 pixel)."""
    return int(radius) if radius >= 1 else max(1, int(round(radius * size)))


def _window_sums_1d(x: tf.Tensor, r: int, axis: int) -> tf.Tensor:
    """Sums over the window [i - r, i + r] (clipped to the image) along ``axis``, by a cumulative sum."""
    n = tf.shape(x)[axis]
    c = tf.cumsum(x, axis=axis)
    pad = [[0, 0]] * x.shape.rank
    pad[axis] = [1, 0]
    c = tf.pad(c, pad)  # c[j] = sum of x[:j]
    i = tf.range(n)
    hi = tf.minimum(i + r + 1, n)
    lo = tf.maximum(i - r, 0)
    return tf.gather(c, hi, axis=axis) - tf.gather(c, lo, axis=axis)


@_plain
def box_mean(x: tf.Tensor, r: int) -> tf.Tensor:
    """Mean over the (2r+1)^2 window of (N, H, W, C) ``x``; windows are clipped at the border (the mean of
    the pixels inside the image), as in He et al.'s reference code."""
    x = tf.convert_to_tensor(x, tf.float32)
    ones = tf.ones_like(x[:1, :, :, :1])
    sums = _window_sums_1d(_window_sums_1d(x, r, 1), r, 2)
    counts = _window_sums_1d(_window_sums_1d(ones, r, 1), r, 2)
    return sums / counts


def _inverse_sym3(s: list[tf.Tensor]) -> list[tf.Tensor]:
    """Inverse of symmetric 3x3 matrices given as [xx, xy, xz, yy, yz, zz] tensors (adjugate / det)."""
    xx, xy, xz, yy, yz, zz = s
    c_xx = yy * zz - yz * yz
    c_xy = xz * yz - xy * zz
    c_xz = xy * yz - xz * yy
    c_yy = xx * zz - xz * xz
    c_yz = xz * xy - xx * yz
    c_zz = xx * yy - xy * xy
    det = xx * c_xx + xy * c_xy + xz * c_xz
    return [c / det for c in (c_xx, c_xy, c_xz, c_yy, c_yz, c_zz)]


def _gray(images: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(images, axis=-1, keepdims=True)


@_plain
def guided_filter(
    guide: tf.Tensor, maps: tf.Tensor, radius: float, eps: float, subsample: int = 1
) -> tf.Tensor:
    """He et al.'s guided filter of ``maps`` (B, k, H, W) with ``guide`` (B, H, W, C) images in [0, 1].

    A colour guide (C = 3) fits a local affine colour model (3x3 covariance per window); any other channel
    count uses the mean channel (grey guide). ``radius``: pixels (>= 1) or a fraction of the image side;
    ``eps``: the ridge on the guide's local variance (larger = smoother, closer to the input map).
    ``subsample`` > 1: the fast guided filter (coefficients on a smaller grid). Returns (B, k, H, W) float32.
    """
    guide = tf.convert_to_tensor(guide, tf.float32)
    maps = tf.convert_to_tensor(maps, tf.float32)
    size = guide.shape[1:3]
    if None in size:
        raise ValueError(f"guided_filter needs a static image size, got images of shape {guide.shape}")
    if guide.shape[-1] != 3:
        guide = _gray(guide)
    k = tf.shape(maps)[1]
    full = guide
    if subsample > 1:
        small = [max(1, int(s) // subsample) for s in size]
        guide = tf.image.resize(guide, small, method="area")
        maps = resize_maps(maps, small, method="area")
    h, w = int(guide.shape[1]), int(guide.shape[2])
    r = _pixels(radius, max(int(size[0]), int(size[1])))
    if subsample > 1:
        r = max(1, r // subsample)
    p = tf.transpose(maps, [0, 2, 3, 1])  # (B, h, w, k)
    c = guide.shape[-1]
    mean_i = box_mean(guide, r)  # (B, h, w, c)
    mean_p = box_mean(p, r)  # (B, h, w, k)
    # E[I_a p] for every guide channel a and map k: (B, h, w, c, k)
    ip = box_mean(tf.reshape(guide[..., :, None] * p[..., None, :], [-1, h, w, c * k]), r)
    cov_ip = tf.reshape(ip, [-1, h, w, c, k]) - mean_i[..., :, None] * mean_p[..., None, :]
    if c == 1:
        var = box_mean(guide * guide, r) - mean_i * mean_i  # (B, h, w, 1)
        a = cov_ip[..., 0, :] / (var + eps)  # (B, h, w, k)
        b = mean_p - a * mean_i
        a = a[..., None, :]  # (B, h, w, 1, k)
    else:
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        second = box_mean(tf.stack([guide[..., i] * guide[..., j] for i, j in pairs], -1), r)
        sigma = [second[..., n] - mean_i[..., i] * mean_i[..., j] for n, (i, j) in enumerate(pairs)]
        for n in (0, 3, 5):
            sigma[n] = sigma[n] + eps
        inv = _inverse_sym3(sigma)  # xx xy xz yy yz zz, each (B, h, w)
        rows = [[inv[0], inv[1], inv[2]], [inv[1], inv[3], inv[4]], [inv[2], inv[4], inv[5]]]
        a = tf.stack(
            [sum(rows[i][j][..., None] * cov_ip[..., j, :] for j in range(3)) for i in range(3)], axis=-2
        )  # (B, h, w, 3, k)
        b = mean_p - tf.reduce_sum(a * mean_i[..., :, None], axis=-2)
    mean_a = tf.reshape(box_mean(tf.reshape(a, [-1, h, w, c * k]), r), [-1, h, w, c, k])
    mean_b = box_mean(b, r)
    if subsample > 1:
        fh, fw = int(size[0]), int(size[1])
        mean_a = tf.reshape(
            tf.image.resize(tf.reshape(mean_a, [-1, h, w, c * k]), (fh, fw), method="bilinear"),
            [-1, fh, fw, c, k],
        )
        mean_b = tf.image.resize(mean_b, (fh, fw), method="bilinear")
        guide = full if c == 3 else _gray(full)
    q = tf.reduce_sum(mean_a * guide[..., :, None], axis=-2) + mean_b  # (B, H, W, k)
    return tf.transpose(q, [0, 3, 1, 2])


def _shift(x: tf.Tensor, dy: int, dx: int) -> tf.Tensor:
    """``x`` (N, H, W, C) shifted so that out[i, j] = x[i + dy, j + dx], edge pixels replicated."""
    h, w = int(x.shape[1]), int(x.shape[2])
    ys = tf.clip_by_value(tf.range(h) + dy, 0, h - 1)
    xs = tf.clip_by_value(tf.range(w) + dx, 0, w - 1)
    return tf.gather(tf.gather(x, ys, axis=1), xs, axis=2)


def _offsets(dilations: Sequence[int]) -> list[tuple[int, int]]:
    return [(d * dy, d * dx) for d in dilations for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


@_plain
def pamr(
    guide: tf.Tensor, maps: tf.Tensor, iterations: int, dilations: Sequence[int] = _PAMR_DILATIONS
) -> tf.Tensor:
    """PAMR (Araslanov & Roth 2020): ``iterations`` rounds of ``m_i <- sum_j alpha_ij m_j`` over the 8
    neighbours at each dilation, ``alpha_i = softmax_j(-|I_i - I_j| / (0.1 std_i(I_j)))`` averaged over the
    colour channels. ``guide`` (B, H, W, C) in [0, 1], ``maps`` (B, k, H, W) -> (B, k, H, W) float32."""
    maps = tf.convert_to_tensor(maps, tf.float32)
    if iterations <= 0:
        return maps
    guide = tf.convert_to_tensor(guide, tf.float32)
    offsets = _offsets(dilations)
    neigh = tf.stack([_shift(guide, dy, dx) for dy, dx in offsets], axis=-1)  # (B, H, W, C, n)
    std = tf.math.reduce_std(neigh, axis=-1, keepdims=True)
    aff = -tf.abs(neigh - guide[..., None]) / (1e-8 + 0.1 * std)
    alpha = tf.nn.softmax(tf.reduce_mean(aff, axis=-2), axis=-1)  # (B, H, W, n)
    m = tf.transpose(maps, [0, 2, 3, 1])  # (B, H, W, k)
    for _ in range(int(iterations)):
        m = tf.add_n([alpha[..., n : n + 1] * _shift(m, dy, dx) for n, (dy, dx) in enumerate(offsets)])
    return tf.transpose(m, [0, 3, 1, 2])


@_plain
def guided_upsample(
    images: tf.Tensor,
    maps: tf.Tensor,
    radius: float = GUIDED_DEFAULTS["radius"],
    eps: float = GUIDED_DEFAULTS["eps"],
    iterations: int = GUIDED_DEFAULTS["iterations"],
    subsample: int | None = None,
) -> tf.Tensor:
    """Low-res maps (B, k, h, w) -> (B, k, H, W) at the size of ``images`` (B, H, W, C) in [0, 1]: bilinear
    up-sampling, the colour-guided filter, then ``iterations`` rounds of PAMR. Raw (unnormalised) values;
    linear in ``maps``. ``subsample`` None: 1 up to 64 px, else side // 64 (the fast guided filter)."""
    check_guided_options(radius, eps, iterations, 1 if subsample is None else subsample)
    images = tf.convert_to_tensor(images, tf.float32)
    size = [int(s) for s in images.shape[1:3]]
    if subsample is None:
        subsample = max(1, max(size) // 64)
    up = resize_maps(maps, size)
    out = guided_filter(images, up, radius, eps, subsample=subsample)
    if iterations:
        guide = images
        if subsample > 1:
            small = [max(1, s // subsample) for s in size]
            guide = tf.image.resize(images, small, method="area")
            out = pamr(guide, resize_maps(out, small, method="area"), iterations)
            return resize_maps(out, size)
        out = pamr(guide, out, iterations)
    return out
