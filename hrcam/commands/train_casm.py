"""``hrcam train-casm``: train a classifier-agnostic saliency masker (CASM), resumable."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_override_argument, emit
from hrcam.commands.train import add_strategy_arguments, strategy_overrides

HELP = "train a CASM masker against a pool of classifiers (--reproduce F|L|FL|L100|L1000; resumable)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="CASM preset (casm-synthetic, casm-tiny-imagenet) or file, e.g. opts/casm-synthetic.yaml",
    )
    parser.add_argument(
        "--reproduce",
        choices=["F", "L", "FL", "L100", "L1000"],
        help="thinning strategy of the paper: sets fixed_classifier, hp, smf and lambda_r",
    )
    parser.add_argument(
        "--adversarial", action="store_true", help="-CE of the masked images instead of entropy"
    )
    parser.add_argument(
        "--classifier", metavar="MODEL.keras", help="start from this classifier (classifier.path)"
    )
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (overrides run_dir)")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs (overrides train.epochs)")
    add_override_argument(parser, "train.f_size=10")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    add_strategy_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from hrcam.casm.config import load_casm_config
    from hrcam.casm.training import train_casm

    overrides = list(args.overrides) + strategy_overrides(args, "train")
    if args.adversarial:
        overrides.append("train.adversarial=true")
    if args.classifier:
        overrides.append(f"classifier.path={args.classifier}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    config = load_casm_config(args.config, overrides, reproduce=args.reproduce)
    summary = train_casm(config, verbose=0 if args.quiet else "auto")
    lines = [f"{k}: {v}" for k, v in summary.items() if not isinstance(v, dict)]
    lines += [f"final {k}: {v:.4f}" for k, v in summary["final"].items()]
    emit(summary, args.json, lines)
    return 0
