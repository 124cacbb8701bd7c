"""``hrcam extract``: maps for a whole folder / list / TFRecords into sharded TFRecords (Apache Beam)."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_source_files, complete_specs, emit

HELP = "maps for a whole dataset into sharded TFRecords, resumable (an Apache Beam pipeline)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image folders, .txt lists, images, TFRecords"
    )
    parser.add_argument("--model", required=True, help="a .keras model or a SavedModel export directory")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (rerun to resume)")
    parser.add_argument(
        "--methods",
        default="cam",
        help="comma-separated map sources (hrcam.sources): cam, high_res_cam, gradcam, guided_cam, refined, "
        "casm (with --masker), explainer (with --explainer), ...; options as NAME:key=value",
    )
    add_source_files(parser)
    parser.add_argument("--size", type=int, metavar="N", help="maps resized to N x N (default: input size)")
    parser.add_argument("--dtype", choices=["uint8", "float16"], default="uint8", help="map storage type")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call (default 64)")
    parser.add_argument("--shard-size", type=int, default=1000, help="images per output shard (default 1000)")
    parser.add_argument("--overlays", metavar="DIR", help="also write PNG overlays into DIR")
    parser.add_argument(
        "--runner",
        default="DirectRunner",
        help="Beam runner (DirectRunner, DataflowRunner, FlinkRunner, SparkRunner, ...) or 'local' (no Beam)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--beam",
        nargs=argparse.REMAINDER,
        default=[],
        metavar="BEAM_OPTION",
        help="everything after --beam goes to Beam's PipelineOptions, e.g. --beam --project=p --region=r",
    )


def run(args: argparse.Namespace) -> int:
    from hrcam.extract import extract
    from hrcam.sources import split_specs

    summary = extract(
        args.inputs,
        args.model,
        args.out,
        methods=complete_specs(split_specs(args.methods), args),
        pipeline_args=args.beam,
        progress=not args.no_progress,
        **{k: getattr(args, k) for k in ("size", "dtype", "batch_size", "shard_size", "overlays", "runner")},
    )
    rate = summary["images_per_second"]
    lines = [
        f"{summary['images']} images in {summary['shards']} shards at {summary['out']} "
        f"({summary['shards_skipped']} finished shards skipped)",
        f"processed {summary['images_processed']} images in {summary['seconds']:.1f} s"
        + (f": {rate} images/s" if rate else ""),
    ]
    emit(summary, args.json, lines)
    return 0
