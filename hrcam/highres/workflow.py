"""The two-stage HR-CAM training workflow behind ``hrcam train-half`` / ``train-full`` and the demo.

One call trains a stage (resuming an interrupted run in the run directory), evaluates it on the held-out
split and writes history plots, a confusion matrix and ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StageResult", "full_stage_name", "train_stage"]


@dataclass
class StageResult:
    """What :func:`train_stage` gives back: a JSON-ready ``summary``, the trained model and the data."""

    summary: dict[str, Any]
    model: Any  # HalfModel or FullModel
    data: Any  # hrcam.training.datasets.DataBundle


def full_stage_name(objective: str) -> str:
    """Run sub-directory of a stage-2 model: ``full`` for the paper's objective, ``full_<objective>`` else."""
    return "full" if objective == "reconstruct" else f"full_{objective}"


def train_stage(
    config,
    stage: str,
    half_path: str | Path | None = None,
    verbose: Any = "auto",
    data=None,
    map_summaries=None,
) -> StageResult:
    """Train one stage (``half``, ``full`` or ``full_<name>``), resuming if the run directory holds an
    interrupted run, and evaluate it on the test split.

    Args:
        config: a :class:`hrcam.config.Config` (``run_dir``, ``data``, ``model``, ``half``, ``full``).
        stage: ``"half"`` (stage 1) or a stage-2 sub-directory (see :func:`full_stage_name`).
        half_path: the trained HalfModel for stage 2 (default ``RUN_DIR/half/best.keras``).
        data: a loaded :class:`~hrcam.training.datasets.DataBundle` to reuse (default: load ``config.data``).
        map_summaries: a hook that writes maps of validation images to TensorBoard during training
            (:func:`hrcam.callbacks.hook_from_config` of ``config.summaries``; the commands pass it).

    Raises:
        FileNotFoundError: stage 2 without a trained HalfModel.
    """
    import keras

    from hrcam.highres.report import evaluate_classifier, update_metrics
    from hrcam.highres.training import train_full, train_half
    from hrcam.plotting.charts import history_figure, save_figure
    from hrcam.training.datasets import load_data
    from hrcam.training.runner import RunPaths, load_history
    from hrcam.training.strategy import check_mixed_precision, make_strategy, worker_dir

    train_cfg = config.half if stage == "half" else config.full
    check_mixed_precision(train_cfg.mixed_precision)
    strategy = make_strategy(train_cfg.strategy)  # before any TF op (multiworker needs that)
    # Weights, shuffling and augmentation follow `data.seed`: the same config gives the same model
    # (up to the float reduction order of multi-threaded kernels).
    keras.utils.set_random_seed(config.data.seed)
    config = dataclasses.replace(config, run_dir=str(worker_dir(config.run_dir, strategy)))
    data = data or load_data(config.data)
    paths = RunPaths(Path(config.run_dir))
    plots = paths.root / "plots"
    if stage == "half":
        model = train_half(
            config,
            data.train,
            data.val,
            data.num_classes,
            verbose=verbose,
            map_summaries=map_summaries,
            class_names=list(data.class_names),
        )
    else:
        half_file = Path(half_path) if half_path else paths.best("half")
        if not half_file.is_file():
            raise FileNotFoundError(
                f"no HalfModel at {half_file}: run `hrcam train-half` first or pass --half"
            )
        model = train_full(
            config,
            half_file,
            data.train,
            data.val,
            verbose=verbose,
            stage=stage,
            map_summaries=map_summaries,
            class_names=list(data.class_names),
        )
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
    summary = {
        "stage": stage,
        "objective": getattr(model, "objective", None),
        "run_dir": str(paths.root),
        "model": str(paths.best(stage)),
        "top1_accuracy": metrics["top1_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "epochs_trained": len(next(iter(history.values()), [])),
        "metrics": str(paths.metrics),
    }
    return StageResult(summary, model, data)
