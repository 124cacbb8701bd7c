"""Sharded TFRecord output of ``hrcam extract``: one ``tf.train.Example`` per image.

Features of a record: ``id`` (bytes), ``class`` (int64, the explained = predicted class), ``probabilities``
(float list), ``map_height`` / ``map_width`` (int64), ``map_dtype`` (``uint8``: round(255 x map), or
``float16``), and ``map/<method>`` (bytes: the (map_height, map_width) map, row-major). Shards are named
``maps-SSSSS-of-NNNNN.tfrecord`` and written to a hidden temporary file (``.maps-SSSSS...``) renamed
into place when complete (with the permissions of a plain write), so a visible shard is always whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.io import atomic_path

__all__ = ["shard_name", "write_shard", "finished_shards", "parse_record", "read_shards", "MAP_DTYPES"]

MAP_DTYPES = ("uint8", "float16")


def shard_name(index: int, count: int) -> str:
    return f"maps-{index:05d}-of-{count:05d}.tfrecord"


def finished_shards(out_dir: str | Path) -> set[str]:
    """Names of the complete shards in ``out_dir`` (temporary files are hidden and not listed)."""
    return {p.name for p in Path(out_dir).glob("maps-*-of-*.tfrecord")}


def remove_temporaries(out_dir: str | Path) -> int:
    """Delete the temporary files of shards (and of their ``skipped/`` records) whose writer was killed;
    returns how many."""
    out_dir = Path(out_dir)
    stale = [*out_dir.glob(".maps-*"), *out_dir.glob("skipped/.maps-*")]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _encode_map(m: np.ndarray, dtype: str) -> bytes:
    if dtype == "uint8":
        return np.clip(np.round(m * 255.0), 0, 255).astype(np.uint8).tobytes()
    return m.astype(np.float16).tobytes()


def _example(image_id: str, cls: int, probs: np.ndarray, maps: dict[str, np.ndarray], dtype: str) -> bytes:
    import tensorflow as tf

    f = tf.train.Feature
    h, w = next(iter(maps.values())).shape if maps else (0, 0)
    feats = {
        "id": f(bytes_list=tf.train.BytesList(value=[image_id.encode("utf-8", "surrogateescape")])),
        "class": f(int64_list=tf.train.Int64List(value=[int(cls)])),
        "probabilities": f(float_list=tf.train.FloatList(value=np.asarray(probs, np.float32))),
        "map_height": f(int64_list=tf.train.Int64List(value=[h])),
        "map_width": f(int64_list=tf.train.Int64List(value=[w])),
        "map_dtype": f(bytes_list=tf.train.BytesList(value=[dtype.encode()])),
    }
    for name, m in maps.items():
        feats[f"map/{name}"] = f(bytes_list=tf.train.BytesList(value=[_encode_map(m, dtype)]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def write_shard(
    path: str | Path, records: list[tuple[str, int, np.ndarray, dict[str, np.ndarray]]], dtype: str
) -> Path:
    """Write ``(id, class, probabilities, {method: (h, w) map})`` records to ``path`` atomically."""
    import tensorflow as tf

    path = Path(path)
    with atomic_path(path) as tmp:  # hidden ".maps-...tfrecord.*": never listed as a shard
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for rec in records:
                writer.write(_example(*rec, dtype))
    return path


def parse_record(raw: bytes) -> dict[str, Any]:
    """One serialized record -> ``{"id", "class", "probabilities", "maps": {method: (h, w) float32}}``
    (uint8 maps divided by 255)."""
    import tensorflow as tf

    feats = tf.train.Example.FromString(raw).features.feature
    h, w = feats["map_height"].int64_list.value[0], feats["map_width"].int64_list.value[0]
    dtype = feats["map_dtype"].bytes_list.value[0].decode()
    maps = {}
    for key, value in feats.items():
        if key.startswith("map/"):
            m = np.frombuffer(value.bytes_list.value[0], dtype=dtype).reshape(h, w).astype(np.float32)
            maps[key[4:]] = m / 255.0 if dtype == "uint8" else m
    return {
        "id": feats["id"].bytes_list.value[0].decode("utf-8", "surrogateescape"),
        "class": int(feats["class"].int64_list.value[0]),
        "probabilities": np.asarray(feats["probabilities"].float_list.value, np.float32),
        "maps": maps,
    }


def read_shards(out_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every record of the finished shards of ``out_dir``, shard by shard (see :func:`parse_record`)."""
    import tensorflow as tf

    for name in sorted(finished_shards(out_dir)):
        for raw in tf.data.TFRecordDataset(str(Path(out_dir) / name)).as_numpy_iterator():
            yield parse_record(raw)
