"""What every trainer shares: one run directory per experiment, resumable after an interruption.

Layout of ``run_dir``::

    config.yaml                the resolved configuration (written once; a resumed run checks it)
    half/best.keras            best HalfModel by validation accuracy (validation = split carved from train)
    half/last.keras            HalfModel after the last finished epoch
    half/state/                resumable state (weights + optimizer, epoch, history)
    half/history.json          per-epoch metrics
    full/best.keras, full/last.keras, full/state/, full/history.json   the same for stage 2
    logs/half, logs/full       TensorBoard event files
    metrics.json               evaluation of the best models on the held-out split
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import yaml

from hrcam.config import Config, TrainConfig
from hrcam.io import read_json, write_text
from hrcam.training.callbacks import AtomicCheckpoint, TrainingState

__all__ = [
    "RunPaths",
    "prepare_run_dir",
    "run_callbacks",
    "fit_resumable",
    "worker_config",
    "reload_model",
    "load_history",
]


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def stage(self, stage: str) -> Path:
        return self.root / stage

    def best(self, stage: str) -> Path:
        return self.root / stage / "best.keras"

    def last(self, stage: str) -> Path:
        return self.root / stage / "last.keras"

    def history(self, stage: str) -> Path:
        return self.root / stage / "history.json"

    def logs(self, stage: str) -> Path:
        return self.root / "logs" / stage

    config = property(lambda self: self.root / "config.yaml")
    metrics = property(lambda self: self.root / "metrics.json")


def prepare_run_dir(config: Config) -> RunPaths:
    """Create the run directory and write ``config.yaml`` (or check it matches on resume)."""
    paths = RunPaths(Path(config.run_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    if paths.config.is_file():
        old = yaml.safe_load(paths.config.read_text(encoding="utf-8"))
        new = yaml.safe_load(text)
        # Only the data/model sections must agree for a resume; epochs may be raised.
        from hrcam.config.loader import same_section

        defaults = yaml.safe_load(yaml.safe_dump(type(config)().to_dict(), sort_keys=False))
        for section in ("data", "model"):
            if not same_section(old.get(section), new.get(section), defaults.get(section)):
                raise ValueError(
                    f"run directory {str(paths.root)!r} holds a run with a different `{section}` config; "
                    "use another --run-dir, or delete the old run"
                )
    write_text(paths.config, text)
    return paths


def run_callbacks(paths: RunPaths, stage: str, train: TrainConfig, monitor: str, mode: str, save_fn=None):
    checkpoint = AtomicCheckpoint(
        paths.best(stage), paths.last(stage), monitor=monitor, mode=mode, save_fn=save_fn
    )
    state = TrainingState(
        paths.stage(stage) / "state", every_n_batches=train.checkpoint_every, checkpoint=checkpoint
    )
    callbacks = [
        checkpoint,  # before `state`, so the state records the updated best value
        keras.callbacks.ReduceLROnPlateau(
            monitor="loss",
            factor=train.reduce_lr_factor,
            patience=train.reduce_lr_patience,
            min_lr=train.min_learning_rate,
            verbose=0,
        ),
        keras.callbacks.TensorBoard(log_dir=str(paths.logs(stage)), write_graph=False),
        state,
    ]
    return callbacks, state


def fit_resumable(
    model: keras.Model, state: TrainingState, callbacks, train_ds, val_ds, train: TrainConfig, verbose: Any
) -> dict[str, list[float]]:
    initial_epoch = state.restore(model)
    if initial_epoch >= train.epochs:
        return state.history
    if initial_epoch:
        # stderr: stdout carries the command's result (--json)
        print(f"resuming at epoch {initial_epoch + 1}/{train.epochs} from {state.state_dir}", file=sys.stderr)
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=train.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=train.steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )
    return state.history


def worker_config(config: Config, strategy) -> Config:
    """The config with ``run_dir`` moved to this worker's scratch folder on non-chief workers."""
    import dataclasses

    from hrcam.training.strategy import is_chief, worker_dir

    return (
        config
        if is_chief(strategy)
        else dataclasses.replace(config, run_dir=str(worker_dir(config.run_dir, strategy)))
    )


def reload_model(model: keras.Model) -> keras.Model:
    """``model`` saved and loaded again, as the same class (inside the current strategy scope: its variables
    are created there). Its class is registered with Keras, since ``model`` exists; no optimizer state."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return keras.saving.load_model(path, compile=False)


def load_history(paths: RunPaths, stage: str) -> dict[str, list[float]]:
    return read_json(paths.history(stage)) if paths.history(stage).is_file() else {}
