"""``hrcam train-half`` and ``hrcam train-full``: the two HR-CAM training stages, resumable."""

from __future__ import annotations

import argparse

from hrcam.commands._common import add_config_arguments, emit, load_config_from_args
from hrcam.training.strategy import STRATEGIES  # TensorFlow-free


def add_strategy_arguments(parser: argparse.ArgumentParser) -> None:
    """``--strategy``, ``--mixed-precision``, ``--jit-compile`` (any trainer; read back by
    :func:`strategy_overrides`)."""
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="tf.distribute strategy (overrides STAGE.strategy); multiworker reads TF_CONFIG; "
        "data.batch_size is the global batch, split over the replicas",
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="mixed_float16 (GPU only; refused on CPU)"
    )
    parser.add_argument(
        "--jit-compile", action="store_true", help="XLA-compile the train step (GPU/TPU; slower on CPU)"
    )


def strategy_overrides(args: argparse.Namespace, section: str) -> list[str]:
    """The ``--set`` overrides of the strategy flags for config section ``section`` (half, full, ...)."""
    out = [f"{section}.strategy={args.strategy}"] if getattr(args, "strategy", None) else []
    out += [f"{section}.mixed_precision=true"] if getattr(args, "mixed_precision", False) else []
    return out + ([f"{section}.jit_compile=true"] if getattr(args, "jit_compile", False) else [])


HELP = {
    "train-half": "stage 1: train the HalfModel classifier (resumes an interrupted run in its --run-dir)",
    "train-full": "stage 2: train the FullModel expansion path on a trained HalfModel (classifier frozen)",
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    add_config_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    add_strategy_arguments(parser)
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
    from hrcam.highres.workflow import full_stage_name, train_stage

    stage = "half" if args.command == "train-half" else "full"
    if stage == "full" and args.objective:
        args.overrides.append(f"full.objective={args.objective}")
    args.overrides += strategy_overrides(args, stage)
    config = load_config_from_args(args, stage)
    if stage == "full":
        stage = full_stage_name(config.full.objective)
    result = train_stage(
        config, stage, half_path=getattr(args, "half", None), verbose=0 if args.quiet else "auto"
    ).summary
    lines = [f"{k}: {v}" for k, v in result.items() if not isinstance(v, dict)]
    emit(result, args.json, lines)
    return 0
