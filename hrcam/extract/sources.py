"""The inputs of ``hrcam extract``: a folder of images, a text file listing images, or TFRecord files.

Every input becomes a sorted list of :class:`Item` (an image id and where to read it), so that a rerun plans
the same shards; :func:`image_batches` decodes one shard's items into uint8 batches at the model's input size.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Item", "list_items", "image_batches", "TFRECORD_IMAGE_KEY", "TFRECORD_ID_KEY"]

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


def _encoded_records(items: list[Item]) -> dict[int, bytes]:
    """The encoded image bytes of the TFRecord items (position in ``items`` -> bytes); image files are
    not read here."""
    import tensorflow as tf

    by_file: dict[str, list[tuple[int, Item]]] = {}
    for k, it in enumerate(items):
        if it.index >= 0:
            by_file.setdefault(it.path, []).append((k, it))
    out: dict[int, bytes] = {}
    for path, group in by_file.items():
        first = min(it.index for _, it in group)
        last = max(it.index for _, it in group)
        wanted = {it.index: k for k, it in group}
        ds = tf.data.TFRecordDataset(path).skip(first).take(last - first + 1)
        for i, raw in enumerate(ds.as_numpy_iterator(), start=first):
            if i in wanted:
                ex = tf.train.Example.FromString(raw)
                out[wanted[i]] = ex.features.feature[TFRECORD_IMAGE_KEY].bytes_list.value[0]
    return out


@functools.lru_cache(maxsize=8)
def _decoder(size: tuple[int, int]):
    """``(path, encoded) -> (H, W, 3) uint8``: the file at ``path``, or ``encoded`` when ``path`` is empty.
    One traced function per size and process: ``Dataset.map`` would otherwise trace the decoding graph
    again for every shard (about a second each on this machine)."""
    import tensorflow as tf

    from hrcam.data.images import decode_image_bytes

    spec = tf.TensorSpec([], tf.string)

    @tf.function(input_signature=[spec, spec], autograph=False)
    def decode(path: tf.Tensor, raw: tf.Tensor) -> tf.Tensor:
        raw = tf.cond(tf.equal(path, ""), lambda: raw, lambda: tf.io.read_file(path))
        return decode_image_bytes(raw, size)

    return decode


def image_batches(
    items: list[Item], size: tuple[int, int], batch_size: int, prefetch: int = 2
) -> Iterator[np.ndarray]:
    """(b, H, W, 3) uint8 batches of ``items`` at ``size``, in order (the last one may be smaller).

    One ``tf.data`` pipeline: files are read and decoded in parallel (one thread per CPU) and ``prefetch``
    batches are prepared ahead, so decoding overlaps with whatever the caller does with a batch (the maps).
    TFRecord items are decoded the same way from their ``image/encoded`` bytes.
    """
    import tensorflow as tf

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")
    if not items:
        return
    encoded = _encoded_records(items)
    paths = [it.path if it.index < 0 else "" for it in items]
    data = [encoded.get(k, b"") for k in range(len(items))]
    # A fixed thread count and autotuning off: with AUTOTUNE, about one shard in two stalled ~0.5 s at its
    # end (tf.data's autotuner shutting down), 20% of a 500-image shard at 64x64 on this machine.
    options = tf.data.Options()
    options.autotune.enabled = False
    ds = (
        tf.data.Dataset.from_tensor_slices((paths, data))
        .map(_decoder(tuple(size)), num_parallel_calls=max(2, os.cpu_count() or 2), deterministic=True)
        .batch(batch_size)
        .prefetch(prefetch)
        .with_options(options)
    )
    yield from ds.as_numpy_iterator()
