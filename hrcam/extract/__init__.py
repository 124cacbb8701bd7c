"""``hrcam extract``: saliency maps for a whole dataset, as sharded TFRecords, on Apache Beam.

    >>> from hrcam.extract import extract, read_shards
    >>> summary = extract("images/", "model.keras", "maps/", methods=("cam", "gradcam"), size=64)
    >>> for record in read_shards("maps/"):      # {"id", "class", "probabilities", "maps": {name: (h, w)}}
    ...     ...

The work is split into shards of ``shard_size`` images in a fixed order; each shard is one element of a
Beam pipeline (``runner="DirectRunner"`` by default; Dataflow, Flink, Spark with their options), computed in
batches by a DoFn that loads the model once per worker, and written to a temporary file renamed into place:
a finished shard is skipped by a rerun and a partial shard is never visible. ``runner="local"`` runs the
same shards in this process without Beam.
"""

from hrcam.extract.pipeline import extract
from hrcam.extract.shards import parse_record, read_shards

__all__ = ["extract", "read_shards", "parse_record"]
