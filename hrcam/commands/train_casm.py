"""``hrcam train-casm``: train a classifier-agnostic saliency masker (CASM), resumable."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_trainer_arguments, emit, quoted, trainer_overrides

FOLDER_HELP = "folder dataset root in the ImageNet layout"
HELP = "train a CASM masker against a pool of classifiers (--reproduce F|L|FL|L100|L1000; resumable)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from hrcam.casm.config import REPRODUCE, CasmTrainConfig

    presets = "CASM preset (casm-synthetic, casm-tiny-imagenet) or file, e.g. opts/casm-synthetic.yaml"
    add_trainer_arguments(parser, presets, "train.f_size=10", CasmTrainConfig, "train", FOLDER_HELP)
    parser.add_argument(
        "--reproduce",
        choices=list(REPRODUCE),
        help="thinning strategy of the paper: sets fixed_classifier, hp, smf and lambda_r",
    )
    parser.add_argument(
        "--adversarial", action="store_true", help="-CE of the masked images instead of entropy"
    )
    parser.add_argument(
        "--classifier", metavar="MODEL.keras", help="start from this classifier (classifier.path)"
    )


def run(args: argparse.Namespace) -> int:
    from hrcam.casm.config import load_casm_config  # TensorFlow-free: checked before TF starts

    extra = ["train.adversarial=true"] if args.adversarial else []
    extra += [f"classifier.path={quoted(args.classifier)}"] if args.classifier else []
    config = load_casm_config(args.config, trainer_overrides(args, "train", extra), reproduce=args.reproduce)

    from hrcam.callbacks import hook_from_config
    from hrcam.casm.training import train_casm

    hook = hook_from_config(config.summaries)
    summary = train_casm(config, verbose=0 if args.quiet else "auto", map_summaries=hook)
    lines = [f"{k}: {v}" for k, v in summary.items() if not isinstance(v, dict)]
    lines += [f"final {k}: {v:.4f}" for k, v in summary["final"].items()]
    emit(summary, args.json, lines)
    return 0
