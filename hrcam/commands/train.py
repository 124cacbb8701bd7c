"""``hrcam train-half`` and ``hrcam train-full``: the two HR-CAM training stages, resumable."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_config_arguments, emit, load_config_from_args

HELP = {
    "train-half": "stage 1: train the HalfModel classifier (resumes an interrupted run in its --run-dir)",
    "train-full": "stage 2: train the FullModel expansion path on a trained HalfModel (classifier frozen)",
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    add_config_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    if name == "train-full":
        parser.add_argument(
            "--half", metavar="MODEL.keras", help="the trained HalfModel (default: RUN_DIR/half/best.keras)"
        )
        parser.add_argument(
            "--objective",
            choices=["reconstruct", "align", "distil"],
            help="stage-2 objective (overrides full.objective); the model goes to "
            "RUN_DIR/full (reconstruct) or RUN_DIR/full_align (align)",
        )


def run(args: argparse.Namespace) -> int:
    from hrcam.training.workflow import full_stage_name, train_stage

    stage = "half" if args.command == "train-half" else "full"
    if stage == "full" and args.objective:
        args.overrides.append(f"full.objective={args.objective}")
    config = load_config_from_args(args, stage)
    if stage == "full":
        stage = full_stage_name(config.full.objective)
    result = train_stage(
        config, stage, half_path=getattr(args, "half", None), verbose=0 if args.quiet else "auto"
    ).summary
    lines = [f"{k}: {v}" for k, v in result.items() if not isinstance(v, dict)]
    emit(result, args.json, lines)
    return 0
