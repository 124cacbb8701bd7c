"""The ``hrcam extract`` pipeline: plan shards, skip the finished ones, compute the rest on Beam (or locally).

Each shard is one pipeline element (``Create -> Reshuffle -> ParDo``); :class:`ShardWorker` loads the model
once per worker (``DoFn.setup``), computes the shard in batches and writes it atomically. ``plan.json``
records what the output holds (model, methods, size, dtype, image ids digest, shard size) so a rerun with
other settings is refused instead of mixing outputs; ``manifest.json`` is written when every shard exists.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.extract.shards import MAP_DTYPES, finished_shards, remove_temporaries, shard_name, write_shard
from hrcam.extract.sources import Item, image_batches, list_items
from hrcam.io import read_json, write_json

__all__ = ["extract", "ShardWorker", "RUNNERS_WITHOUT_BEAM"]

RUNNERS_WITHOUT_BEAM = ("local",)
_ENGINES: dict[tuple, Any] = {}


def _overlay_stem(image_id: str) -> str:
    stem = image_id.rsplit(".", 1)[0] if "." in Path(image_id).name else image_id
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem.replace("/", "__")) or "image"


class ShardWorker:
    """Computes and writes shards: ``setup()`` once (loads the model), then ``process(shard)`` per shard.

    ``shard``: ``(index, count, items)``. Returns the number of images written.
    """

    def __init__(
        self,
        model: str,
        methods: tuple[str, ...],
        out_dir: str,
        size: int | None,
        dtype: str,
        batch_size: int,
        overlays: str | None = None,
        total: int = 0,
        progress: bool = False,
    ):
        self.model, self.methods, self.out_dir = model, tuple(methods), out_dir
        self.size, self.dtype, self.batch_size = size, dtype, batch_size
        self.overlays, self.total, self.progress = overlays, total, progress
        self.engine = self.bar = None
        self.busy_seconds = 0.0  # time in process(): decoding, maps, writing (without model loading)

    def setup(self) -> None:
        from tqdm.auto import tqdm

        from hrcam.extract.engine import MapEngine

        key = (self.model, self.methods, self.batch_size)
        if key not in _ENGINES:  # one model per process, however many DoFn instances the runner makes
            engine = MapEngine(self.model, self.methods, self.batch_size)
            engine(np.zeros((1, *engine.input_size, 3), np.uint8))  # trace now, not in the first shard
            _ENGINES[key] = engine
        self.engine = _ENGINES[key]
        self.bar = tqdm(total=self.total, unit="img", desc="extract", disable=not self.progress)

    def process(self, shard: tuple[int, int, list[Item]]) -> int:
        from hrcam.arrays import resize_maps

        index, count, items = shard
        t0 = time.perf_counter()
        records = []
        # Decoding runs ahead in tf.data's threads (prefetch) while the engine computes the current batch.
        batches = image_batches(items, self.engine.input_size, self.batch_size)
        start = 0
        for images in batches:
            chunk, start = items[start : start + len(images)], start + len(images)
            probs, classes, maps = self.engine(images)
            if self.size is not None:
                maps = {m: resize_maps(v, (self.size, self.size)) for m, v in maps.items()}
            for j, it in enumerate(chunk):
                records.append((it.id, int(classes[j]), probs[j], {m: v[j] for m, v in maps.items()}))
            if self.overlays:
                from hrcam.plotting.overlays import write_overlays

                write_overlays(
                    [
                        (_overlay_stem(it.id), images[j], {m: v[j] for m, v in maps.items()})
                        for j, it in enumerate(chunk)
                    ],
                    self.overlays,
                )
            if self.bar is not None:
                self.bar.update(len(chunk))
        write_shard(Path(self.out_dir) / shard_name(index, count), records, self.dtype)
        self.busy_seconds += time.perf_counter() - t0
        return len(records)


def _check_plan(out: Path, plan: dict[str, Any]) -> None:
    path = out / "plan.json"
    if path.is_file():
        old = read_json(path)
        if old != plan:
            diff = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
            raise ValueError(
                f"--out {str(out)!r} holds maps made with other settings ({', '.join(diff)}); "
                "use another --out or delete it"
            )
    else:
        write_json(path, plan)


def _run_beam(worker: ShardWorker, shards: list, runner: str, pipeline_args: list[str]) -> float | None:
    """Run the shards on Beam; returns the seconds the workers spent in ``process`` (summed over workers,
    from the ``hrcam/busy_ms`` counter; None where the runner reports no metrics)."""
    try:
        import apache_beam as beam
        from apache_beam.metrics.metric import MetricsFilter
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError as e:
        raise ValueError(
            f"--runner {runner} needs Apache Beam: pip install 'hrcam[beam]' (or use --runner local)"
        ) from e

    class ExtractShards(beam.DoFn):
        def __init__(self, w: ShardWorker):
            self.w = w
            self.images = beam.metrics.Metrics.counter("hrcam", "images")
            self.busy_ms = beam.metrics.Metrics.counter("hrcam", "busy_ms")

        def setup(self):
            self.w.setup()

        def process(self, shard):
            before = self.w.busy_seconds
            self.images.inc(self.w.process(shard))
            self.busy_ms.inc(int(round(1000 * (self.w.busy_seconds - before))))
            yield shard[0]

    p = beam.Pipeline(options=PipelineOptions([f"--runner={runner}", *pipeline_args]))
    _ = (
        p
        | "Shards" >> beam.Create(shards)
        | "Spread" >> beam.Reshuffle()
        | "Extract" >> beam.ParDo(ExtractShards(worker))
    )
    result = p.run()
    result.wait_until_finish()
    try:
        counters = result.metrics().query(MetricsFilter().with_name("busy_ms"))["counters"]
    except (NotImplementedError, AttributeError, KeyError):
        return None
    total = sum(c.committed or 0 for c in counters)
    return total / 1000.0 if total else None


def extract(
    inputs: Any,
    model: str | Path,
    out_dir: str | Path,
    methods: tuple[str, ...] | str = ("cam",),
    size: int | None = None,
    dtype: str = "uint8",
    batch_size: int = 64,
    shard_size: int = 1000,
    overlays: str | Path | None = None,
    runner: str = "DirectRunner",
    pipeline_args: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Maps for every image of ``inputs`` into sharded TFRecords in ``out_dir`` (resumable).

    Args:
        inputs: folders, ``.txt`` lists, images, TFRecords (:func:`hrcam.extract.sources.list_items`).
        model: a ``.keras`` file or a SavedModel export directory.
        methods: map sources (``"cam,gradcam,casm:masker=m.keras"`` or a tuple; see
            :class:`~hrcam.extract.engine.MapEngine`); maps are stored under their canonical names.
        size: maps resized to ``size`` x ``size`` (None: the model's input size).
        dtype: ``"uint8"`` or ``"float16"``.
        shard_size: images per shard (the unit of work, of resumption and of parallelism).
        overlays: a folder for PNG overlays (``<id>_<method>.png``), or None.
        runner: a Beam runner name (``DirectRunner``, ``DataflowRunner``, ``FlinkRunner``, ...) or ``local``.
        pipeline_args: further Beam options, e.g. ``["--project=p", "--region=r"]``.

    Returns:
        a summary: images, shards, shards_skipped, images_processed, seconds, images_per_second.
    """
    from hrcam.sources import split_specs

    methods = tuple(split_specs(methods))
    if not methods or not all(methods):
        raise ValueError(f"`methods` must name at least one map source, got {methods!r}")
    if dtype not in MAP_DTYPES:
        raise ValueError(f"`dtype` must be one of {list(MAP_DTYPES)}, got {dtype!r}")
    for name, v in (("batch_size", batch_size), ("shard_size", shard_size), ("size", size or 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"`{name}` must be a positive int, got {v!r}")
    items = list_items(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count = -(-len(items) // shard_size)
    digest = hashlib.sha1("\n".join(it.id for it in items).encode()).hexdigest()
    plan = {
        "model": str(Path(model).resolve()),
        "methods": list(methods),
        "size": size,
        "dtype": dtype,
        "images": len(items),
        "shard_size": shard_size,
        "shards": count,
        "ids_sha1": digest,
    }
    _check_plan(out, plan)
    remove_temporaries(out)
    done = finished_shards(out)
    shards = [(i, count, items[i * shard_size : (i + 1) * shard_size]) for i in range(count)]
    todo = [s for s in shards if shard_name(s[0], count) not in done]
    todo_images = sum(len(s[2]) for s in todo)
    worker = ShardWorker(
        str(model),
        methods,
        str(out),
        size,
        dtype,
        batch_size,
        None if overlays is None else str(overlays),
        todo_images,
        progress,
    )
    start = time.perf_counter()
    busy = None
    if todo:
        if runner == "local":
            worker.setup()
            for s in todo:
                worker.process(s)
            busy = worker.busy_seconds
        else:
            busy = _run_beam(worker, todo, runner, list(pipeline_args or []))
    seconds = time.perf_counter() - start
    missing = [shard_name(i, count) for i in range(count) if shard_name(i, count) not in finished_shards(out)]
    if missing:
        raise RuntimeError(
            f"the pipeline finished but {len(missing)} shard(s) are missing, e.g. {missing[0]}"
        )
    summary = {
        **plan,
        "out": str(out),
        "runner": runner,
        "shards_skipped": count - len(todo),
        "images_processed": todo_images,
        "seconds": round(seconds, 3),
        "images_per_second": round(todo_images / seconds, 1) if todo_images else None,
        # without model loading and tracing: images per second of the shard workers' busy time, summed over
        # workers (the pipeline's steady rate with one worker, a per-worker rate with several)
        "images_per_busy_second": round(todo_images / busy, 1) if busy else None,
    }
    write_json(out / "manifest.json", summary)
    return summary
