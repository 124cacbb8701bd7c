"""``hrcam train-half`` and ``hrcam train-full``: the two HR-CAM training stages, resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

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
            choices=["reconstruct", "align"],
            help="stage-2 objective (overrides full.objective); the model goes to "
            "RUN_DIR/full (reconstruct) or RUN_DIR/full_align (align)",
        )


def run(args: argparse.Namespace) -> int:
    stage = "half" if args.command == "train-half" else "full"
    if stage == "full" and args.objective:
        args.overrides.append(f"full.objective={args.objective}")
    config = load_config_from_args(args, stage)
    if stage == "full":
        stage = full_stage_name(config.full.objective)
    result = train_stage(
        config, stage, half_path=getattr(args, "half", None), verbose=0 if args.quiet else "auto"
    )
    lines = [f"{k}: {v}" for k, v in result.items() if not isinstance(v, dict)]
    emit(result, args.json, lines)
    return 0


def full_stage_name(objective: str) -> str:
    """Run sub-directory of a stage-2 model: ``full`` for the paper's objective, ``full_<objective>`` else."""
    return "full" if objective == "reconstruct" else f"full_{objective}"


def train_stage(config, stage: str, half_path: str | None = None, verbose="auto", data=None) -> dict:
    """Train one stage (``half``, ``full`` or ``full_<name>``): see :func:`_train_stage`."""
    return _train_stage(config, stage, half_path, verbose, data)[0]


def _train_stage(config, stage: str, half_path: str | None = None, verbose="auto", data=None):
    """Train one stage (resuming if the run directory holds an interrupted run) and evaluate it.

    Returns ``(summary, model, data)``: a JSON-ready summary, the trained model and the data bundle;
    also writes ``metrics.json``, plots and history into the run directory.
    """
    from hrcam.plotting.charts import history_figure, save_figure
    from hrcam.training.datasets import load_data
    from hrcam.training.report import evaluate_classifier, update_metrics
    from hrcam.training.runner import RunPaths, train_full, train_half

    data = data or load_data(config.data)
    paths = RunPaths(Path(config.run_dir))
    plots = paths.root / "plots"
    if stage == "half":
        model = train_half(config, data.train, data.val, data.num_classes, verbose=verbose)
    else:
        from hrcam.models import HalfModel

        half_file = Path(half_path) if half_path else paths.best("half")
        if not half_file.is_file():
            raise FileNotFoundError(
                f"no HalfModel at {half_file}: run `hrcam train-half` first or pass --half"
            )
        model = train_full(
            config, HalfModel.load(half_file), data.train, data.val, verbose=verbose, stage=stage
        )
    from hrcam.training.runner import load_history

    history = load_history(paths, stage)
    if history:
        save_figure(history_figure(history, stage), plots / f"history_{stage}.png")
    metrics = evaluate_classifier(
        model,
        data.test_images,
        data.test_labels,
        data.class_names,
        plot_path=plots / f"confusion_{stage}.png",
    )
    metrics["split"] = data.info
    update_metrics(paths.metrics, stage, metrics)
    return (
        {
            "stage": stage,
            "objective": getattr(model, "objective", None),
            "run_dir": str(paths.root),
            "model": str(paths.best(stage)),
            "top1_accuracy": metrics["top1_accuracy"],
            "macro_f1": metrics["macro_f1"],
            "epochs_trained": len(next(iter(history.values()), [])),
            "metrics": str(paths.metrics),
        },
        model,
        data,
    )
