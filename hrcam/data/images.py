"""Image files: decoding (JPEG/PNG/GIF/BMP -> uint8 RGB, graph-safe), readability checks, loading into arrays.

Images are decoded with ``tf.io.decode_image(channels=3, expand_animations=False)``: grayscale is repeated to
RGB, an alpha channel is dropped (not composited), then the image is resized to ``image_size`` (bilinear,
antialiased; exact when the size already matches).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.arrays import as_size

__all__ = ["decode_image_file", "decode_image_bytes", "check_images_readable", "load_image_files"]

_SIGNATURES = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
}


def decode_image_file(path: tf.Tensor | str, image_size: Any = None) -> tf.Tensor:
    """Read and decode one image file -> uint8 (H, W, 3); graph-safe (used inside ``tf.data.map``).

    Grayscale is repeated to RGB and alpha is dropped (``decode_image(channels=3)``). With ``image_size``
    the image is resized (bilinear, antialias), rounded back to uint8; a same-size resize is exact.
    """
    return decode_image_bytes(tf.io.read_file(path), image_size)


def decode_image_bytes(data: tf.Tensor | bytes, image_size: Any = None) -> tf.Tensor:
    """Decode one encoded image (a scalar string: JPEG/PNG/GIF/BMP file contents) -> uint8 (H, W, 3), as
    :func:`decode_image_file` (which reads the file and calls this); graph-safe."""
    img = tf.io.decode_image(data, channels=3, expand_animations=False)
    img = tf.ensure_shape(img, [None, None, 3])
    if image_size is None:
        return img
    out = ops.resize_images(img, as_size(image_size, "image_size"))  # float32, unchanged at that size
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def _sniff(path: str) -> str | None:
    with open(path, "rb") as f:
        head = f.read(16)
    for kind, sigs in _SIGNATURES.items():
        if any(head.startswith(s) for s in sigs):
            return kind
    return None


def check_images_readable(files: Sequence[str | os.PathLike], decode: bool = True) -> None:
    """Raise a clear error naming the files TF cannot read, instead of a bare TF error mid-training.

    Checks that every file exists and starts with a JPEG/PNG/GIF/BMP signature (cheap: 16 bytes each), and
    with ``decode=True`` also decodes them all with the pipeline's own decoder (parallel tf.data, about a
    millisecond per small image), which catches truncated or corrupt data behind a valid header.

    Raises:
        FileNotFoundError: missing files. ValueError: unreadable files, listed with the reason.
        TypeError: ``files`` is not a sequence of paths.
    """
    if isinstance(files, (str, os.PathLike)):
        raise TypeError("`files` must be a sequence of paths, got a single path (wrap it in a list)")
    paths = [os.fspath(f) for f in files]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(f"image files do not exist: {missing[:5]}{more}")
    bad = {
        p: "not a JPEG, PNG, GIF or BMP file (unrecognised or empty header)"
        for p in paths
        if _sniff(p) is None
    }
    if decode and len(bad) < len(paths):
        idx = [i for i, p in enumerate(paths) if p not in bad]
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(idx, np.int64), [paths[i] for i in idx]))
        ds = ds.map(
            lambda i, p: (i, tf.shape(decode_image_file(p))[0]), num_parallel_calls=tf.data.AUTOTUNE
        ).ignore_errors()
        ok: set[int] = set()
        for batch_idx, _ in ds.batch(4096).as_numpy_iterator():
            ok.update(int(i) for i in batch_idx)
        for i in idx:
            if i not in ok:
                try:
                    decode_image_file(paths[i])
                    reason = "could not be decoded"
                except tf.errors.OpError as e:
                    reason = f"could not be decoded: {e.message.splitlines()[0] if e.message else e}"
                bad[paths[i]] = reason
    if bad:
        lines = [f"  {p}: {why}" for p, why in list(bad.items())[:10]]
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise ValueError(
            f"{len(bad)} of {len(paths)} image files cannot be read:\n" + "\n".join(lines) + more
        )


def load_image_files(paths: Sequence[str | os.PathLike], image_size: Any, check: bool = True) -> np.ndarray:
    """Load image files into one uint8 array (for ``hrcam explain IMAGES...``).

    Args:
        paths: image files (JPEG/PNG/GIF/BMP; grayscale and RGBA become RGB).
        image_size: int or (height, width) to resize to; ``None`` keeps the native size, which must then be
            the same for every file.
        check: run :func:`check_images_readable` first so a bad file is named in the error.

    Returns:
        (N, H, W, 3) uint8 in [0, 255], in the order of ``paths``.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("`paths` is empty: expected at least one image file")
    if check:
        check_images_readable(paths)
    size = as_size(image_size, "image_size") if image_size is not None else None
    ds = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda p: decode_image_file(p, size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if size is None:
        images = [x for x in ds.as_numpy_iterator()]
        shapes = sorted({x.shape[:2] for x in images})
        if len(shapes) > 1:
            raise ValueError(
                f"the images have different sizes {shapes[:5]}; pass `image_size` to resize them to one size"
            )
        return np.stack(images)
    return np.concatenate(list(ds.batch(256).as_numpy_iterator()), axis=0)
