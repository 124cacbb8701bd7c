"""``hrcam train-half`` and ``hrcam train-full``: the two HR-CAM training stages, resumable."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_trainer_arguments, emit, quoted, trainer_overrides

HELP = {
    "train-half": "stage 1: train the HalfModel classifier (resumes an interrupted run in its --run-dir)",
    "train-full": "stage 2: train the FullModel expansion path on a trained HalfModel (classifier frozen)",
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from hrcam.config import OBJECTIVES, TrainConfig

    add_trainer_arguments(
        parser,
        "experiment preset or file, e.g. opts/synthetic.yaml",
        "data.batch_size=16",
        TrainConfig,
        "half" if name == "train-half" else "full",
        "folder dataset root in the ImageNet layout",
    )
    if name == "train-full":
        parser.add_argument(
            "--half", metavar="MODEL.keras", help="the trained HalfModel (default: RUN_DIR/half/best.keras)"
        )
        parser.add_argument(
            "--objective",
            choices=OBJECTIVES,
            help="stage-2 objective (overrides full.objective); the model goes to "
            "RUN_DIR/full (reconstruct) or RUN_DIR/full_align (align)",
        )


def run(args: argparse.Namespace) -> int:
    from hrcam.config import load_config  # TensorFlow-free: the config is checked before TF starts

    stage = "half" if args.command == "train-half" else "full"
    extra = [f"full.objective={quoted(args.objective)}"] if stage == "full" and args.objective else []
    config = load_config(args.config, trainer_overrides(args, stage, extra))

    from hrcam.callbacks import hook_from_config
    from hrcam.highres.workflow import full_stage_name, train_stage

    if stage == "full":
        stage = full_stage_name(config.full.objective)
    result = train_stage(
        config,
        stage,
        half_path=getattr(args, "half", None),
        verbose=0 if args.quiet else "auto",
        map_summaries=hook_from_config(config.summaries),
    ).summary
    lines = [f"{k}: {v}" for k, v in result.items() if not isinstance(v, dict)]
    emit(result, args.json, lines)
    return 0
