"""``hrcam train-explainer``: train a classifier (unless given) and an Explainer (or Real-Time Saliency)
network against it, resumable in the run directory."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_trainer_arguments, emit, quoted, trainer_overrides

FOLDER_HELP = "folder dataset with ROOT/masks/<split>/<stem>.png"
HELP = "train an Explainer (one mask per class) against a frozen multi-label classifier"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from hrcam.explainer.config import ExplainerTrain

    presets = "preset name or file, e.g. opts/explainer-synthetic.yaml"
    add_trainer_arguments(parser, presets, "loss.tv=0.5", ExplainerTrain, "train", FOLDER_HELP)
    parser.add_argument(
        "--classifier", metavar="MODEL.keras", help="a trained classifier (skips its training)"
    )
    parser.add_argument("--variant", choices=["explainer", "rtsal"], help="loss (overrides train.variant)")
    parser.add_argument(
        "--no-test-metrics",
        action="store_true",
        help="skip RUN_DIR/test_metrics.txt (the Explainer's segmentation metrics on the test split over "
        "all images and per class, and the classifier's micro metrics)",
    )


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
    if not args.no_test_metrics:
        summary.update(_test_metrics(cfg, summary))
    emit(summary, args.json, [f"{k}: {v}" for k, v in summary.items()])
    return 0


def _test_metrics(cfg, summary: dict) -> dict:
    """Write RUN_DIR/test_metrics.{txt,json} (as the original writes its ``*_test_metrics.txt``); a data set
    without test masks (a folder without ROOT/masks/val) is reported, not an error."""
    from pathlib import Path

    from hrcam.explainer.tables import test_metrics_text
    from hrcam.io import write_json, write_text
    from hrcam.sources.class_masks import run_test_metrics

    run = Path(summary["run_dir"])
    try:
        res = run_test_metrics(cfg, summary["explainer"], summary["classifier"], cfg.data.batch_size)
    except FileNotFoundError as e:
        return {"test_metrics": f"skipped: {e}"}
    write_json(run / "test_metrics.json", res)
    write_text(run / "test_metrics.txt", test_metrics_text(res, f"Explainer run {run}"))
    return {
        "test_metrics": str(run / "test_metrics.txt"),
        **{f"test_{k}": v for k, v in res["table"]["explainer"].items()},
    }
