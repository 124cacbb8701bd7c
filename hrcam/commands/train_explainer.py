"""``hrcam train-explainer``: train a classifier (unless given) and an Explainer (or Real-Time Saliency)
network against it, resumable in the run directory."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_override_argument, emit
from hrcam.commands.train import strategy_overrides
from hrcam.training.strategy import STRATEGIES  # TensorFlow-free

HELP = "train an Explainer (one mask per class) against a frozen multi-label classifier"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--config", metavar="YAML", help="preset name or file, e.g. opts/explainer-synthetic.yaml"
    )
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (overrides run_dir)")
    parser.add_argument("--data", metavar="ROOT", help="folder dataset with ROOT/masks/<split>/<stem>.png")
    parser.add_argument(
        "--classifier", metavar="MODEL.keras", help="a trained classifier (skips its training)"
    )
    parser.add_argument("--variant", choices=["explainer", "rtsal"], help="loss (overrides train.variant)")
    parser.add_argument("--epochs", type=int, metavar="N", help="explainer epochs (overrides train.epochs)")
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="tf.distribute strategy of the Explainer stage (overrides train.strategy; multiworker: every "
        "worker runs the same command with its TF_CONFIG and needs --classifier)",
    )
    add_override_argument(parser, "loss.tv=0.5")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from hrcam.explainer.config import load_explainer_config

    overrides = list(args.overrides)
    if args.data:
        overrides += ["data.source=folder", f"data.root={args.data}"]
    if args.classifier:
        overrides.append(f"classifier.path={args.classifier}")
    if args.variant:
        overrides.append(f"train.variant={args.variant}")
    overrides += strategy_overrides(args, "train")  # --strategy (this command has no precision flags)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    cfg = load_explainer_config(args.config, [o for o in overrides if not o.startswith("run_dir=")])
    if args.run_dir:
        cfg.run_dir = args.run_dir

    from hrcam.explainer.training import train_explainer_experiment

    summary = train_explainer_experiment(cfg, verbose=0 if args.quiet else "auto")
    emit(summary, args.json, [f"{k}: {v}" for k, v in summary.items()])
    return 0
