"""Training runs: one run directory per experiment, resumable after an interruption.

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
from hrcam.io import read_json, write_json, write_text
from hrcam.training.callbacks import AtomicCheckpoint, TrainingState

__all__ = ["RunPaths", "prepare_run_dir", "train_half", "train_full"]


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

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"


def prepare_run_dir(config: Config) -> RunPaths:
    """Create the run directory and write ``config.yaml`` (or check it matches on resume)."""
    paths = RunPaths(Path(config.run_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    if paths.config.is_file():
        old = yaml.safe_load(paths.config.read_text(encoding="utf-8"))
        new = yaml.safe_load(text)
        # Only the data/model sections must agree for a resume; epochs may be raised.
        for section in ("data", "model"):
            if old.get(section) != new.get(section):
                raise ValueError(
                    f"run directory {str(paths.root)!r} holds a run with a different `{section}` config; "
                    "use another --run-dir, or delete the old run"
                )
    write_text(paths.config, text)
    return paths


def _callbacks(paths: RunPaths, stage: str, train: TrainConfig, monitor: str, mode: str, save_fn=None):
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


def _fit(
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


def _worker_config(config: Config, strategy) -> Config:
    """The config with ``run_dir`` moved to this worker's scratch folder on non-chief workers."""
    import dataclasses

    from hrcam.training.strategy import is_chief, worker_dir

    return (
        config
        if is_chief(strategy)
        else dataclasses.replace(config, run_dir=str(worker_dir(config.run_dir, strategy)))
    )


def _init_from(model, path: str) -> None:
    """Copy the weights of the HalfModel saved at ``path`` into ``model`` (same architecture; the input
    size may differ: the DenseNet-FCN's weights do not depend on it)."""
    from hrcam.models import HalfModel

    if not Path(path).is_file():
        raise FileNotFoundError(
            f"`half.init_weights`: no HalfModel at {str(path)!r} (train the smaller model first, or set "
            "half.init_weights=null)"
        )
    source = HalfModel.load(path)
    want = [tuple(w.shape) for w in model.weights]
    got = [tuple(w.shape) for w in source.weights]
    if want != got:
        raise ValueError(
            f"`half.init_weights` {path!r} is a HalfModel with {len(got)} weights of other shapes than "
            f"this config's model ({len(want)} weights): use the same `model` section"
        )
    model.set_weights(source.get_weights())


def train_half(config: Config, train_ds, val_ds, num_classes: int, verbose: Any = "auto"):
    """Stage 1: train (or resume) the HalfModel under ``config.half.strategy``; returns the best HalfModel."""
    from hrcam.models import HalfModel
    from hrcam.training.half import compile_half_model
    from hrcam.training.strategy import check_global_batch, prepare_for_training, strategy_scope

    size = config.data.image_size
    with strategy_scope(config.half) as strategy:
        check_global_batch(config.data.batch_size, strategy)
        paths = prepare_run_dir(_worker_config(config, strategy))
        hm = HalfModel(
            num_classes,
            (size, size, 3),
            config.model.densenet_config(),
            backbone=config.model.backbone,
            weights=config.model.weights,
        )
        compile_half_model(hm, train_ds, config.half.optimizer, config.half.learning_rate)
        prepare_for_training(hm, strategy, config.half)
        callbacks, state = _callbacks(paths, "half", config.half, "val_accuracy", "max")
        if config.half.init_weights and state.read() is None:  # a resumed run keeps its own weights
            _init_from(hm, config.half.init_weights)
        history = _fit(hm, state, callbacks, train_ds, val_ds, config.half, verbose)
    write_json(paths.history("half"), history)
    return HalfModel.load(paths.best("half") if paths.best("half").is_file() else paths.last("half"))


def train_full(config: Config, half_model, train_ds, val_ds, verbose: Any = "auto", stage: str = "full"):
    """Stage 2: build the FullModel on ``half_model`` (a HalfModel or its ``.keras`` path), freeze the
    classifier, train the expansion path under ``config.full.strategy``.

    ``stage`` names the sub-directory of the run (``full`` by default; e.g. ``full_align`` to keep a
    second objective beside the first).
    """
    from hrcam.models import FullModel, HalfModel
    from hrcam.training.full import compile_stage2, stage2_dataset
    from hrcam.training.strategy import check_global_batch, prepare_for_training, strategy_scope

    with strategy_scope(config.full) as strategy:
        check_global_batch(config.data.batch_size, strategy)
        paths = prepare_run_dir(_worker_config(config, strategy))
        if isinstance(half_model, (str, Path)):
            half_model = HalfModel.load(half_model)
        elif config.full.strategy != "default":  # its variables must be created under the strategy
            half_model = _reload(half_model)
        fm = FullModel(half_model, objective=config.full.objective)
        train_model = compile_stage2(
            fm, config.full.optimizer, config.full.learning_rate, config.full.align_weight
        )
        prepare_for_training(train_model, strategy, config.full)
        callbacks, state = _callbacks(paths, stage, config.full, "val_loss", "min", save_fn=fm.save)
        history = _fit(
            train_model,
            state,
            callbacks,
            stage2_dataset(train_ds, fm.objective),
            stage2_dataset(val_ds, fm.objective),
            config.full,
            verbose,
        )
    write_json(paths.history(stage), history)
    return FullModel.load(paths.best(stage) if paths.best(stage).is_file() else paths.last(stage))


def _reload(model):
    """``model`` saved and loaded again (inside the current strategy scope: its variables are created
    there)."""
    import tempfile

    from hrcam.models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return load_model(path)


def load_history(paths: RunPaths, stage: str) -> dict[str, list[float]]:
    return read_json(paths.history(stage)) if paths.history(stage).is_file() else {}
