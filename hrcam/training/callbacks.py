"""Callbacks that keep a run directory safe: atomic checkpoints and resumable training state."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras

from hrcam.io import atomic_path, write_json

__all__ = ["AtomicCheckpoint", "TrainingState"]


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save the ``.keras`` model after every epoch (``last``) and when ``monitor`` improves (``best``).

    Writes go to a temporary file first and are renamed, so a kill never leaves a truncated model.
    ``save_fn(path)`` saves what should be checkpointed (by default ``self.model.save``).
    """

    def __init__(
        self,
        best_path: str | Path,
        last_path: str | Path,
        monitor: str = "val_accuracy",
        mode: str = "max",
        initial_best: float | None = None,
        save_fn=None,
    ):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}")
        self.best_path, self.last_path = Path(best_path), Path(last_path)
        self.monitor, self.mode = monitor, mode
        self.best = initial_best if initial_best is not None else (-math.inf if mode == "max" else math.inf)
        self.save_fn = save_fn

    def _save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            (self.save_fn or self.model.save)(tmp)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._save(self.last_path)
        value = logs.get(self.monitor)
        if value is None:
            return
        value = float(value)
        better = value > self.best if self.mode == "max" else value < self.best
        if better:
            self.best = value
            self._save(self.best_path)


class TrainingState(keras.callbacks.Callback):
    """Resumable training: weights + optimizer state and a JSON record, saved atomically.

    Saved every ``every_n_batches`` batches and at the end of each epoch into ``state_dir``
    (``state.weights.h5`` and ``state.json``). :meth:`restore` loads them before ``fit`` and returns the
    epoch to pass as ``initial_epoch``. A run killed mid-epoch restarts that epoch from its first batch
    with the weights of the last save, so at most ``every_n_batches`` batches of work are repeated.
    The JSON also keeps the history so far and the best monitored value (for :class:`AtomicCheckpoint`).
    """

    def __init__(
        self, state_dir: str | Path, every_n_batches: int = 50, checkpoint: AtomicCheckpoint | None = None
    ):
        super().__init__()
        if not isinstance(every_n_batches, int) or every_n_batches < 1:
            raise ValueError(f"`every_n_batches` must be a positive int, got {every_n_batches!r}")
        self.state_dir = Path(state_dir)
        self.every_n_batches = every_n_batches
        self.checkpoint = checkpoint
        self.epoch = 0
        self.history: dict[str, list[float]] = {}
        self._batches = 0

    @property
    def weights_path(self) -> Path:
        return self.state_dir / "state.weights.h5"

    @property
    def json_path(self) -> Path:
        return self.state_dir / "state.json"

    def read(self) -> dict[str, Any] | None:
        if not self.json_path.is_file() or not self.weights_path.is_file():
            return None
        with open(self.json_path, encoding="utf-8") as f:
            return json.load(f)

    def restore(self, model: keras.Model) -> int:
        """Load the saved state into ``model`` (built and compiled); return the epoch to resume at."""
        state = self.read()
        if state is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.weights_path)
        self.epoch = int(state["epoch"])
        self.history = state.get("history", {})
        self.restore_extra(state)
        if self.checkpoint is not None and state.get("best") is not None:
            self.checkpoint.best = float(state["best"])
        return self.epoch

    def _save(self, finished_epochs: int, batch: int | None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.weights_path, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        write_json(
            self.json_path,
            {
                "epoch": finished_epochs,
                "batch": batch,
                "history": self.history,
                "best": None if self.checkpoint is None else self.checkpoint.best,
                "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                **self.extra_state(),
            },
        )

    def extra_state(self) -> dict[str, Any]:
        """Subclasses: more JSON-able state, saved (before ``state.json``) with the weights."""
        return {}

    def restore_extra(self, state: dict[str, Any]) -> None:
        """Subclasses: restore what :meth:`extra_state` saved (``state`` is the whole JSON record)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self._batches % self.every_n_batches == 0:
            self._save(self.epoch, batch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        self._save(epoch + 1, None)
