"""The inputs of ``hrcam extract``: a folder of images, a text file listing images, or TFRecord files.

Every input becomes a sorted list of :class:`Item` (an image id and where to read it), so that a rerun plans
the same shards; :func:`read_images` loads one shard's items as a uint8 batch at the model's input size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Item", "list_items", "read_images", "TFRECORD_IMAGE_KEY", "TFRECORD_ID_KEY"]

TFRECORD_IMAGE_KEY = "image/encoded"
TFRECORD_ID_KEY = "image/id"
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_RECORD_EXT = (".tfrecord", ".tfrecords", ".tfr")


@dataclass(frozen=True, order=True)
class Item:
    """One image: ``id`` (relative path, listed path or the record's id), ``path`` (image or TFRecord
    file), ``index`` (record number in a TFRecord file; -1 for an image file)."""

    id: str
    path: str
    index: int = -1


def _record_ids(path: str) -> list[Item]:
    import tensorflow as tf

    items = []
    for i, raw in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        ex = tf.train.Example.FromString(raw)
        ids = ex.features.feature[TFRECORD_ID_KEY].bytes_list.value
        items.append(Item(ids[0].decode() if ids else f"{Path(path).name}:{i}", path, i))
    return items


def list_items(inputs: list[str] | str) -> list[Item]:
    """The images of ``inputs``: folders (searched recursively; id = path relative to the folder), ``.txt``
    files listing one image per line (relative to the list's folder), image files, TFRecord files (feature
    ``image/encoded``, optional ``image/id``). Sorted by id.

    Raises:
        FileNotFoundError: an input that does not exist. ValueError: no images, or duplicate ids.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    items: list[Item] = []
    for inp in map(Path, inputs):
        if inp.is_dir():
            files = sorted(p for p in inp.rglob("*") if p.is_file() and p.suffix.lower() in _IMAGE_EXT)
            items += [
                Item(p.relative_to(inp).as_posix(), str(p)) for p in files if not p.name.startswith(".")
            ]
        elif not inp.is_file():
            raise FileNotFoundError(f"`inputs`: {str(inp)!r} does not exist")
        elif inp.suffix.lower() == ".txt":
            lines = [s.strip() for s in inp.read_text(encoding="utf-8").splitlines()]
            for line in filter(None, lines):
                p = Path(line) if Path(line).is_absolute() else inp.parent / line
                if not p.is_file():
                    raise FileNotFoundError(f"{str(inp)!r} lists {line!r}, which does not exist")
                items.append(Item(line, str(p)))
        elif inp.suffix.lower() in _RECORD_EXT:
            items += _record_ids(str(inp))
        elif inp.suffix.lower() in _IMAGE_EXT:
            items.append(Item(inp.name, str(inp)))
        else:
            raise ValueError(
                f"`inputs`: {str(inp)!r} is not a folder, a .txt list, an image or a TFRecord file"
            )
    if not items:
        raise ValueError(f"`inputs` {[str(i) for i in inputs]} hold no images")
    items.sort()
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i, j in zip(ids, ids[1:]) if i == j)
        raise ValueError(f"two inputs have the same image id {dup!r}: pass them separately")
    return items


def read_images(items: list[Item], size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 at ``size`` for ``items`` (image files or TFRecord records), in order."""
    import tensorflow as tf

    from hrcam.data.images import decode_image_file

    out = np.empty((len(items), *size, 3), np.uint8)
    files = [(k, it) for k, it in enumerate(items) if it.index < 0]
    if files:
        ds = tf.data.Dataset.from_tensor_slices([it.path for _, it in files]).map(
            lambda p: decode_image_file(p, size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        for (k, _), img in zip(files, ds.as_numpy_iterator()):
            out[k] = img
    by_file: dict[str, list[tuple[int, Item]]] = {}
    for k, it in enumerate(items):
        if it.index >= 0:
            by_file.setdefault(it.path, []).append((k, it))
    for path, group in by_file.items():
        first, last = group[0][1].index, group[-1][1].index
        wanted = {it.index: k for k, it in group}
        ds = tf.data.TFRecordDataset(path).skip(first).take(last - first + 1)
        for i, raw in enumerate(ds.as_numpy_iterator(), start=first):
            if i in wanted:
                ex = tf.train.Example.FromString(raw)
                data = ex.features.feature[TFRECORD_IMAGE_KEY].bytes_list.value[0]
                img = tf.io.decode_image(data, channels=3, expand_animations=False)
                img = tf.image.resize(img, size, antialias=True)
                out[wanted[i]] = np.clip(np.round(img.numpy()), 0, 255).astype(np.uint8)
    return out
