"""``hrcam demo``: the whole HR-CAM job on built-in synthetic data, offline, in a few minutes on a CPU.

Parses the options and prints; the workflow is :func:`hrcam.demo.run_demo`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import add_override_argument, emit

HELP = "train HR-CAM on synthetic data and write CAM overlays, metrics, plots and a SavedModel (offline)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--out", default="demo_output", metavar="DIR", help="output directory (default: %(default)s)"
    )
    preset = "preset file or name (default: the packaged 'demo' preset)"
    parser.add_argument("--config", metavar="YAML", help=preset)
    add_override_argument(parser, "half.epochs=2")
    parser.add_argument("--num-overlays", type=int, default=8, help="test images to draw (default 8)")
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from hrcam.demo import demo_config, run_demo

    out = Path(args.out)
    config = demo_config(args.config, args.overrides)
    config.run_dir = str(out / "run")
    summary = run_demo(
        config, out, num_overlays=args.num_overlays, export=not args.no_export, verbose=0 if args.quiet else 2
    )
    lines = ["", "hrcam demo finished in {:.0f} s. Outputs:".format(summary["seconds"])]
    lines += [f"  {k:<22} {v}" for k, v in summary["outputs"].items()]
    lines += ["", "Scores on the synthetic test set:"]
    lines += [f"  {k:<22} {v}" for k, v in summary["scores"].items()]
    emit(summary, args.json, lines)
    return 0
