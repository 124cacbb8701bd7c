"""CASM training runs behind ``hrcam train-casm``: resumable like the HR-CAM stages (runner.py).

Run directory (``run_dir``)::

    config.yaml             the resolved CasmConfig (checked on resume)
    casm/last.keras         the masker (CasmMasker, its classifier inside) after the last finished epoch
    casm/best.keras         the masker with the lowest validation masker loss
    casm/state/             weights + both optimizers, the classifier pool (pool-*.npz) and its RNG state
    casm/history.json       per-epoch losses, mask area, accuracies
    logs/casm               TensorBoard: losses, mask area, example masks and masked images
    logs/casm/maps          with a ``map_summaries`` hook: maps of validation images (by default the masker's)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.casm.config import CasmConfig
from hrcam.casm.pool import ClassifierPool
from hrcam.io import write_json
from hrcam.training.callbacks import AtomicCheckpoint, TrainingState
from hrcam.training.summaries import MapSubject, MapSummaryHook, summary_callbacks

__all__ = ["build_classifier", "build_trainer", "train_casm", "PoolCallback", "CasmState"]

STAGE = "casm"


class PoolCallback(keras.callbacks.Callback):
    """Before each batch: pick the classifier for the masked images (loads a snapshot into the confuser);
    after it: store a snapshot when one is due (see :class:`hrcam.casm.pool.ClassifierPool`). Under a
    multi-worker strategy every worker's pool has the same seed, so all workers pick the same step."""

    def __init__(self, trainer, pool: ClassifierPool):
        super().__init__()
        self.trainer, self.pool = trainer, pool

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        slot = self.pool.choose()
        if slot is not None:
            self.trainer.confuser.set_weights(self.pool.snapshots[slot])
        self.trainer.use_history.assign(0 if slot is None else 1)

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.pool.due(batch):
            self.pool.add(self.trainer.masker.classifier.get_weights())

    def on_train_end(self, logs=None) -> None:
        self.trainer.use_history.assign(0)


class CasmState(TrainingState):
    """:class:`TrainingState` that also keeps the pool: written to alternating ``pool-{0,1}.npz`` before
    ``state.json`` (the commit point), so the JSON always names a complete pool file."""

    def __init__(self, state_dir, pool: ClassifierPool, **kwargs: Any):
        super().__init__(state_dir, **kwargs)
        self.pool, self._saves = pool, 0

    def extra_state(self) -> dict[str, Any]:
        self._saves += 1
        name = f"pool-{self._saves % 2}.npz"
        return {"pool": self.pool.save(self.state_dir / name), "pool_file": name}

    def restore_extra(self, state: dict[str, Any]) -> None:
        if state.get("pool_file"):
            self.pool.load(self.state_dir / state["pool_file"], state["pool"])
            self._saves = int(state["pool_file"][5])


class StepDecay(keras.callbacks.Callback):
    """Both learning rates times ``decay ** (epoch // every)`` ([casme:train_utils.py])."""

    def __init__(self, trainer, base: tuple[float, float], every: int, decay: float):
        super().__init__()
        self.trainer, self.base, self.every, self.decay = trainer, base, every, decay

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        f = self.decay ** (epoch // self.every)
        self.trainer.classifier_optimizer.learning_rate.assign(self.base[0] * f)
        self.trainer.masker_optimizer.learning_rate.assign(self.base[1] * f)


class MaskExamples(keras.callbacks.Callback):
    """TensorBoard images after each epoch: example images, their masks and the masked-out images."""

    def __init__(self, trainer, images: np.ndarray, log_dir: Path):
        super().__init__()
        self.trainer, self.images = trainer, tf.convert_to_tensor(images, tf.float32)
        self.writer = tf.summary.create_file_writer(str(log_dir / "examples"))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        mask = self.trainer.masker(self.images, training=False)["mask"]
        fill = self.trainer.masker.fill
        with self.writer.as_default():
            tf.summary.image("images", self.images, step=epoch, max_outputs=8)
            tf.summary.image("masks", mask, step=epoch, max_outputs=8)
            tf.summary.image("masked_out", self.images * (1 - mask) + fill * mask, step=epoch, max_outputs=8)
        self.writer.flush()


def build_classifier(config: CasmConfig, num_classes: int) -> keras.Model:
    """The classifier to train (and explain): loaded from ``classifier.path`` or built from its sizes."""
    size = config.data.image_size
    c = config.classifier
    if c.path and str(c.path).endswith((".pth", ".pt", ".npz")):  # a torchvision ResNet state dict
        from hrcam.casm.torch_import import resnet_from_torchvision

        model = resnet_from_torchvision(c.path, (size, size, 3))
        if int(model.outputs[0].shape[-1]) != num_classes:
            raise ValueError(
                f"classifier.path {c.path!r} has {int(model.outputs[0].shape[-1])} classes, the data "
                f"{num_classes}"
            )
        return model
    if c.path:
        from hrcam.highres.loading import classifier_of, load_model

        model = classifier_of(load_model(c.path))
        if tuple(model.inputs[0].shape[1:3]) != (size, size):
            raise ValueError(
                f"classifier.path {c.path!r} takes {tuple(model.inputs[0].shape[1:3])} images, "
                f"data.image_size is {size}"
            )
        return model
    if c.kind == "resnet":
        from hrcam.casm.resnet import build_resnet

        return build_resnet(num_classes, (size, size, 3), **c.resnet)
    from hrcam.highres.half import build_half_model

    return build_half_model(num_classes, (size, size, 3), c.densenet_config())


def build_trainer(config: CasmConfig, classifier: keras.Model):
    """``(trainer, pool)`` for ``classifier`` (see :class:`hrcam.casm.trainer.CasmTrainer`)."""
    from hrcam.casm.masker import CasmMasker
    from hrcam.casm.trainer import CasmTrainer

    m, t = config.masker, config.train
    masker = CasmMasker(
        classifier,
        features=m.features,
        logits_layer=m.logits_layer,
        channels=m.channels,
        passthrough_first=m.passthrough_first if m.features is not None else None,
        upsample=m.upsample,
        fill=m.fill,
    )
    use_pool = (not t.fixed_classifier) and t.hp > 0
    trainer = CasmTrainer(
        masker,
        t.lambda_r,
        fixed_classifier=t.fixed_classifier,
        adversarial=t.adversarial,
        use_pool=use_pool,
        classifier_lr=t.classifier_lr,
        masker_lr=t.masker_lr,
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        clip_norm=t.clip_norm,
    )
    trainer.build_all()
    trainer.compile(optimizer=trainer.masker_optimizer)
    pool = ClassifierPool(t.f_size, t.hp, t.smf, seed=t.seed, enabled=use_pool)
    return trainer, pool


def train_casm(
    config: CasmConfig,
    verbose: Any = "auto",
    data=None,
    stop_after_epochs: int | None = None,
    map_summaries: MapSummaryHook | None = None,
):
    """Train (or resume) a CASM masker under ``config.train.strategy``; returns a JSON-ready summary.

    The models, both optimizers and the metrics are created in the strategy's scope; ``data.batch_size``
    is the global batch (split over the replicas); a multi-worker run writes the run directory on the chief
    only (:func:`hrcam.training.strategy.worker_dir`). ``data``: a loaded
    :class:`~hrcam.training.datasets.DataBundle` to reuse. ``stop_after_epochs``: stop after that many
    epochs of this call (the state stays resumable; used to test interruption). ``map_summaries``: a hook
    (:func:`hrcam.callbacks.summaries_hook`) that writes maps of validation images to TensorBoard (the
    masker being trained, ``casm``, unless it names sources; they are made on the masker's classifier).
    """
    from hrcam.training.datasets import load_data
    from hrcam.training.runner import fit_resumable, prepare_run_dir, worker_config
    from hrcam.training.strategy import (
        check_global_batch,
        make_strategy,
        prepare_for_training,
        strategy_scope,
    )

    t = config.train
    make_strategy(t.strategy)  # before any TF op (multiworker needs that)
    keras.utils.set_random_seed(t.seed)
    data = data or load_data(config.data)
    with strategy_scope(t) as strategy:
        check_global_batch(config.data.batch_size, strategy)
        paths = prepare_run_dir(worker_config(config, strategy))
        classifier = build_classifier(config, data.num_classes)
        trainer, pool = build_trainer(config, classifier)
        prepare_for_training(trainer, strategy, t)
        checkpoint = AtomicCheckpoint(
            paths.best(STAGE),
            paths.last(STAGE),
            monitor="val_masker_loss",
            mode="min",
            save_fn=trainer.masker.save,
        )
        state = CasmState(
            paths.stage(STAGE) / "state", pool, every_n_batches=t.checkpoint_every, checkpoint=checkpoint
        )
        examples = data.test_images[: t.example_images].astype(np.float32) / 255.0
        callbacks = [
            StepDecay(trainer, (t.classifier_lr, t.masker_lr), t.lr_decay_every, t.lr_decay),
            PoolCallback(trainer, pool),
            checkpoint,
            keras.callbacks.TensorBoard(log_dir=str(paths.logs(STAGE)), write_graph=False),
            MaskExamples(trainer, examples, paths.logs(STAGE)),
            state,
        ]
        subject = MapSubject(
            trainer.masker.classifier,
            "casm",
            paths.logs(STAGE),
            data.val,
            options={"masker": trainer.masker},
            class_names=list(data.class_names),
        )
        callbacks[-1:-1] = summary_callbacks(map_summaries, subject)
        if stop_after_epochs is not None:
            callbacks.append(_StopAfter(stop_after_epochs))
        start = time.perf_counter()
        history = fit_resumable(trainer, state, callbacks, data.train, data.val, t, verbose)
        seconds = time.perf_counter() - start
    write_json(paths.history(STAGE), history)
    summary = {
        "mode": config.mode,
        "run_dir": str(paths.root),
        "masker": str(paths.last(STAGE)),
        "best_masker": str(paths.best(STAGE)),
        "epochs_trained": len(next(iter(history.values()), [])),
        "steps": int(trainer.masker_optimizer.iterations.numpy()),
        "classifier_steps": int(trainer.classifier_optimizer.iterations.numpy()),
        "pool_size": len(pool),
        "pool_stored": pool.stored,
        "strategy": t.strategy,
        "replicas": int(strategy.num_replicas_in_sync),
        "train_seconds": round(seconds, 1),
        "final": {k: v[-1] for k, v in history.items()},
    }
    write_json(paths.root / "summary.json", summary)
    return summary


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs: int):
        super().__init__()
        self.epochs, self.seen = epochs, 0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.seen += 1
        if self.seen >= self.epochs:
            self.model.stop_training = True
