"""``hrcam train-explainer``: train a classifier (unless given) and an Explainer (or Real-Time Saliency)
network against it, resumable in the run directory."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_trainer_arguments, emit, quoted, trainer_overrides

HELP = "train an Explainer (one mask per class) against a frozen multi-label classifier"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from hrcam.explainer.config import ExplainerTrain

    add_trainer_arguments(
        parser,
        "preset name or file, e.g. opts/explainer-synthetic.yaml",
        "loss.tv=0.5",
        ExplainerTrain,
        "train",
        "folder dataset with ROOT/masks/<split>/<stem>.png",
    )
    parser.add_argument(
        "--classifier", metavar="MODEL.keras", help="a trained classifier (skips its training)"
    )
    parser.add_argument("--variant", choices=["explainer", "rtsal"], help="loss (overrides train.variant)")


def run(args: argparse.Namespace) -> int:
    from hrcam.explainer.config import load_explainer_config  # TensorFlow-free: checked before TF starts

    extra = [f"classifier.path={quoted(args.classifier)}"] if args.classifier else []
    extra += [f"train.variant={args.variant}"] if args.variant else []
    # multiworker: every worker runs the same command with its TF_CONFIG and needs --classifier
    cfg = load_explainer_config(args.config, trainer_overrides(args, "train", extra))

    from hrcam.callbacks import hook_from_config
    from hrcam.explainer.training import train_explainer_experiment

    hook = hook_from_config(cfg.summaries)
    summary = train_explainer_experiment(cfg, verbose=0 if args.quiet else "auto", map_summaries=hook)
    emit(summary, args.json, [f"{k}: {v}" for k, v in summary.items()])
    return 0
