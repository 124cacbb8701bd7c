"""Training the Explainer (and the Real-Time Saliency variant) against a frozen classifier.

``hrcam train-explainer --config opts/explainer-*.yaml`` runs :func:`train_explainer_experiment`:

1. the classifier (``classifier.path``, or trained into ``RUN_DIR/classifier`` with BCE-with-logits for
   multi-label data / CE for single-label data, early stopping on ``val_loss``);
2. the Explainer (:func:`hrcam.explainer.network.build_explainer`) with :class:`ExplainerTrainer`: the
   classifier is frozen and always called in inference mode (BN statistics and dropout fixed; the original's
   Lightning ``model.train()`` probably put it in train mode, see the reference), only the Explainer's
   weights get gradients; early stopping on ``val_loss`` (``min_delta`` 1e-3, ``patience`` per preset).

Both stages are resumable from the run directory (:mod:`hrcam.training.callbacks`; an early-stopping
counter restarts at 0 after a resume) and extendable: a stage that ran all its epochs trains on when
``epochs`` is raised, one that stopped early does not (``<stage>/finished.json``); a resume uses the
configured learning rate, not the one saved with the optimizer. TensorBoard logs go to
``RUN_DIR/logs/<stage>``, with example target masks of a fixed validation batch after every epoch (and, with
a ``map_summaries`` hook, :mod:`hrcam.training.summaries`, maps in ``logs/<stage>/maps``).

Run directory: ``config.yaml``, ``classifier/{best,last}.keras``, ``explainer/{best,last}.keras`` (the
Explainer alone), ``<stage>/state/``, ``<stage>/history.json``, ``<stage>/finished.json``, ``logs/``,
``metrics.json``.
Masks multiply the raw pixels (masked-out pixels are black), as the harness does.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import yaml

from hrcam.explainer import losses as L
from hrcam.explainer.callbacks import ConfiguredLearningRate, MaskImages
from hrcam.explainer.classifier import build_classifier, compile_classifier, multilabel_metrics
from hrcam.explainer.network import aggregate_masks, build_explainer
from hrcam.io import write_json, write_text
from hrcam.training.callbacks import AtomicCheckpoint, TrainingState
from hrcam.training.runner import fit_resumable
from hrcam.training.summaries import MapSubject, summary_callbacks

__all__ = ["ExplainerTrainer", "train_classifier", "train_explainer", "train_explainer_experiment"]


class ExplainerTrainer(keras.Model):
    """Wraps the Explainer and the frozen classifier; ``fit`` trains the Explainer's weights only.

    Args:
        explainer: pixels -> (B, H, W, C) logits.
        classifier: pixels -> (B, C) logits (frozen here).
        loss: the ``loss`` config section (``entropy``, ``tv``, ``area``, ``total``, ``non_target``,
            ``min_area``, ``max_area``) or the ``rtsal`` section for ``variant="rtsal"``.
        variant: ``"explainer"`` or ``"rtsal"``.
        classifier_loss: ``"bce"`` or ``"ce"`` for the masked-in term.
    """

    def __init__(self, explainer, classifier, loss: Any, variant: str = "explainer", classifier_loss="bce"):
        super().__init__(name="explainer_trainer")
        if variant not in ("explainer", "rtsal"):
            raise ValueError(f"`variant` must be 'explainer' or 'rtsal', got {variant!r}")
        self.explainer, self.classifier = explainer, classifier
        self.classifier.trainable = False
        self.w = loss
        self.variant, self.classifier_loss = variant, classifier_loss
        names = ["loss", "classification", "entropy", "tv", "area", "mask_mean", "non_target_mean"]
        if variant == "rtsal":
            names = ["loss", "preservation", "destruction", "tv", "mask_mean"]
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.extra = multilabel_metrics(-1.0) if variant == "explainer" else []
        self.step_seed = tf.Variable(  # one counter for all replicas (updated in replica context)
            0, trainable=False, dtype=tf.int64, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA
        )
        self.built = True  # both sub-models are built Functional models

    @property
    def metrics(self):
        return [*self.trackers.values(), *self.extra]

    def call(self, x, training=False):
        return self.explainer(x, training=training)

    def loss_terms(
        self, x: tf.Tensor, y: tf.Tensor, training: bool
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """(terms, masked-in classifier logits); ``terms["loss"]`` is the weighted total."""
        logits = self.explainer(x, training=training)
        m, n = aggregate_masks(logits, y)
        w = self.w
        if self.variant == "rtsal":
            sigma = w.blur_sigma * int(x.shape[1]) / 224.0
            alt = L.alternative_images(x, tf.stack([self.step_seed, 7]), w.noise_std, max(sigma, 0.5))
            mm = m[..., None]
            f_in = self.classifier(mm * x + (1 - mm) * alt, training=False)
            f_out = self.classifier((1 - mm) * x + mm * alt, training=False)
            t = {
                "preservation": L.preservation_loss(f_in, y),
                "destruction": L.destruction_loss(f_out, y),
                "tv": L.total_variation(m, squared=True),
                "mask_mean": tf.reduce_mean(m),
            }
            destroy = tf.pow(tf.maximum(t["destruction"], 1e-6), w.destroy_power)
            t["loss"] = (
                w.tv * t["tv"]
                + w.area * t["mask_mean"]
                + w.preserve * t["preservation"]
                + w.destroy * destroy
            )
            return t, f_in
        f_in = self.classifier(m[..., None] * x, training=False)
        f_out = self.classifier((1 - m)[..., None] * x, training=False)
        t = {
            "classification": L.classification_loss(f_in, y, self.classifier_loss),
            "entropy": L.entropy_loss(f_out),
            "tv": L.total_variation(m) + L.total_variation(n),
            "area": L.area_loss(tf.sigmoid(logits), y, w.min_area, w.max_area),
            "mask_mean": tf.reduce_mean(m),
            "non_target_mean": tf.reduce_mean(n),
        }
        t["loss"] = (
            t["classification"]
            + w.entropy * t["entropy"]
            + w.tv * t["tv"]
            + w.area * t["area"]
            + w.total * t["mask_mean"]
            + w.non_target * t["non_target_mean"]
        )
        return t, f_in

    def _update(self, terms, y, f_in):
        for k, tracker in self.trackers.items():
            tracker.update_state(terms[k])
        for metric in self.extra:
            metric.update_state(y, f_in)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y = data
        self.step_seed.assign_add(1)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms, f_in = self.loss_terms(x, y, training=True)
            # Gradients are summed over replicas: each replica's mean loss is divided by their number.
            scaled = terms["loss"] / replicas
        variables = self.explainer.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._update(terms, y, f_in)

    def test_step(self, data):
        x, y = data
        self.step_seed.assign_add(1)  # RT-Saliency: blur or colour drawn per batch, also in validation
        terms, f_in = self.loss_terms(x, y, training=False)
        return self._update(terms, y, f_in)


def _datasets(cfg, data_fn):
    """Train / val :class:`~hrcam.data.masks.MaskData` and their datasets: in memory (synthetic, folder) or
    streamed from the files (the official layouts, e.g. COCO's 80k training images)."""
    from hrcam.data.folder import make_dataset
    from hrcam.data.pipeline import from_arrays

    streamed = cfg.data.source not in ("synthetic", "folder")
    kw = {"with_masks": False, "load_images": False} if streamed else {}
    tr, va = data_fn(cfg.data, "train", **kw), data_fn(cfg.data, "val", **kw)
    bs, seed = cfg.data.batch_size, cfg.data.seed
    if streamed:
        train_ds = make_dataset(tr.files, tr.labels, tr.image_size, bs, shuffle=True, seed=seed)
        return tr, va, train_ds, make_dataset(va.files, va.labels, va.image_size, bs)
    train_ds = from_arrays(tr.images, tr.labels, bs, shuffle=True, seed=seed)
    return tr, va, train_ds, from_arrays(va.images, va.labels, bs)


def _stage(
    root: Path, name: str, epochs, steps, patience, min_delta, every, save_fn=None, monitor="val_loss"
):
    mode = "min" if monitor.endswith("loss") else "max"
    ckpt = AtomicCheckpoint(
        root / name / "best.keras", root / name / "last.keras", monitor, mode, save_fn=save_fn
    )
    state = TrainingState(root / name / "state", every_n_batches=every, checkpoint=ckpt)
    callbacks = [
        ckpt,
        keras.callbacks.EarlyStopping(monitor, min_delta=min_delta, patience=patience, mode=mode),
        keras.callbacks.TensorBoard(log_dir=str(root / "logs" / name), write_graph=False),
        state,
    ]
    return callbacks, state, SimpleNamespace(epochs=epochs, steps_per_epoch=steps)


def _run_stage(model, state, callbacks, train_ds, val_ds, train, verbose, learning_rate) -> dict:
    """Train (or resume, or extend) one stage; returns its history.

    ``<stage>/finished.json`` records how a stage ended: one stopped early is never trained again; one that
    ran all its epochs resumes when ``epochs`` is raised (``history.json`` alone, as written by older
    versions, no longer marks a stage finished).
    """
    from hrcam.io import read_json

    stage_dir = state.state_dir.parent
    marker = stage_dir / "finished.json"
    if marker.is_file() and read_json(marker).get("stopped_early"):
        return read_json(stage_dir / "history.json")
    history = fit_resumable(
        model, state, [ConfiguredLearningRate(learning_rate), *callbacks], train_ds, val_ds, train, verbose
    )
    done = len(history.get("loss", []))
    write_json(stage_dir / "history.json", history)
    write_json(marker, {"epochs": done, "stopped_early": done < train.epochs})
    return history


def train_classifier(
    cfg, root: Path, train_ds, val_ds, verbose: Any = "auto", map_summaries=None, class_names=None
) -> keras.Model:
    """Train (or resume) the classifier into ``root/classifier``; returns the best model.
    ``map_summaries``, ``class_names``: as for :func:`train_explainer` (``gradcam`` by default)."""
    c = cfg.classifier
    from hrcam.highres.densenet_fcn import DenseNetFCNConfig

    dn = DenseNetFCNConfig(
        num_blocks=c.num_blocks,
        layers_per_block=c.layers_per_block,
        growth_rate=c.growth_rate,
        initial_filters=c.initial_filters,
        weight_decay=0.0,
    )
    size = cfg.data.image_size
    model = build_classifier(
        c.architecture,
        cfg.data.num_classes,
        (size, size, 3),
        c.weights,
        densenet=dn,
        hidden_units=c.hidden_units,
    )
    compile_classifier(model, c.multi_label, c.learning_rate)
    monitor = "val_micro_f1" if c.multi_label else "val_accuracy"  # val_loss is noisy: BN, small sets
    callbacks, state, train = _stage(
        root, "classifier", c.epochs, None, c.patience, 1e-3, cfg.train.checkpoint_every, monitor=monitor
    )
    subject = MapSubject(model, "gradcam", root / "logs" / "classifier", val_ds, class_names=class_names)
    callbacks[-1:-1] = summary_callbacks(map_summaries, subject)
    _run_stage(model, state, callbacks, train_ds, val_ds, train, verbose, c.learning_rate)
    return keras.saving.load_model(root / "classifier" / "best.keras")


def train_explainer(
    cfg,
    classifier,
    root: Path,
    train_ds,
    val_ds,
    example,
    verbose="auto",
    map_summaries=None,
    class_names=None,
):
    """Train (or resume) the Explainer into ``root/explainer`` under ``cfg.train.strategy``; returns
    ``(best explainer, history)``. ``map_summaries``: a hook (:func:`hrcam.callbacks.summaries_hook`) that
    writes maps of ``val_ds`` images to ``root/logs/explainer/maps`` (the Explainer's masks unless it names
    sources, made on ``classifier``); ``class_names`` name the classes there.

    ``train_ds`` / ``val_ds`` are batched at the global batch size (``data.batch_size``, a multiple of the
    replicas); the frozen classifier is reloaded inside the strategy's scope. With several replicas the
    BatchNormalization layers are synchronised, so training matches one device on the same global batches
    (dropout aside: its random draws differ). Non-chief workers of a multi-worker run write to
    ``root/.workers/<task>`` (:func:`hrcam.training.strategy.worker_dir`).
    """
    from hrcam.training.runner import reload_model
    from hrcam.training.strategy import check_global_batch, prepare_for_training, strategy_scope, worker_dir

    e, t = cfg.explainer, cfg.train
    size = cfg.data.image_size
    with strategy_scope(t) as strategy:
        check_global_batch(cfg.data.batch_size, strategy)
        root = worker_dir(root, strategy)
        if t.strategy != "default":  # its variables must be created under the strategy
            classifier = reload_model(classifier)
        backbone = classifier if e.backbone == "classifier" else e.backbone
        explainer = build_explainer(
            cfg.data.num_classes,
            (size, size, 3),
            backbone,
            e.weights,
            e.output_stride,
            e.channels,
            e.rates,
            e.dropout,
            e.decoder_stride,
            e.decoder_channels,
        )
        weights = cfg.rtsal if t.variant == "rtsal" else cfg.loss
        trainer = ExplainerTrainer(explainer, classifier, weights, t.variant, t.classifier_loss)
        trainer.compile(optimizer=keras.optimizers.Adam(t.learning_rate))
        prepare_for_training(trainer, strategy, t)
        callbacks, state, train = _stage(
            root,
            "explainer",
            t.epochs,
            t.steps_per_epoch,
            t.patience,
            t.min_delta,
            t.checkpoint_every,
            explainer.save,
        )
        callbacks.insert(-1, MaskImages(root / "logs" / "explainer", *example, explainer))
        logs, options = root / "logs" / "explainer", {"network": explainer}
        subject = MapSubject(classifier, "explainer", logs, val_ds, options=options, class_names=class_names)
        callbacks[-1:-1] = summary_callbacks(map_summaries, subject)
        repeated = train_ds.repeat() if t.steps_per_epoch else train_ds  # epochs of steps_per_epoch batches
        history = _run_stage(trainer, state, callbacks, repeated, val_ds, train, verbose, t.learning_rate)
    return keras.saving.load_model(root / "explainer" / "best.keras"), history


def train_explainer_experiment(cfg, verbose: Any = "auto", map_summaries=None) -> dict[str, Any]:
    """Both stages of ``hrcam train-explainer`` (see the module docstring); returns a summary dict.
    ``map_summaries``: a hook for both stages (:func:`hrcam.callbacks.hook_from_config` of
    ``cfg.summaries``; the command passes it)."""
    import hrcam.explainer.network  # noqa: F401  (registers the Explainer's Keras classes for loading)
    from hrcam.data.masks import mask_data
    from hrcam.training.strategy import make_strategy, worker_dir

    if cfg.train.strategy == "multiworker" and not cfg.classifier.path:
        raise ValueError(
            "train.strategy 'multiworker' needs a trained classifier (classifier.path / --classifier): "
            "the classifier stage runs on one device, and every worker must explain the same classifier"
        )
    # The strategy first: multiworker must be created before TensorFlow runs any op. Non-chief workers
    # write their config, checkpoints and metrics under run_dir/.workers/<task>, never over the chief's.
    root = worker_dir(cfg.run_dir, make_strategy(cfg.train.strategy))
    root.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    cfg_path = root / "config.yaml"
    if cfg_path.is_file():
        old = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        from hrcam.config.loader import same_section

        free = ("epochs", "patience", "learning_rate", "path")  # may change between a run and its resume
        defaults = type(cfg)().to_dict()
        for section in ("data", "classifier", "explainer"):
            a, b = old.get(section), cfg.to_dict()[section]
            if not same_section(a, b, defaults[section], free):
                raise ValueError(
                    f"run directory {str(root)!r} holds a run with a different `{section}` config; "
                    "use another "
                    "--run-dir or delete the old run"
                )
    write_text(cfg_path, text)
    keras.utils.set_random_seed(cfg.data.seed)
    tr, va, train_ds, val_ds = _datasets(cfg, mask_data)
    if cfg.classifier.path:
        classifier = keras.saving.load_model(cfg.classifier.path)
    else:
        classifier = train_classifier(
            cfg, root, train_ds, val_ds, verbose, map_summaries, list(tr.class_names)
        )
    n_ex = min(8, len(va))
    example = (va.load_images(n_ex).astype(np.float32) / 255.0, va.labels[:n_ex].astype(np.float32))
    explainer, history = train_explainer(
        cfg, classifier, root, train_ds, val_ds, example, verbose, map_summaries, list(tr.class_names)
    )
    summary = {
        "run_dir": str(root),
        "classifier": str(cfg.classifier.path or root / "classifier" / "best.keras"),
        "explainer": str(root / "explainer" / "best.keras"),
        "variant": cfg.train.variant,
        "epochs": len(history.get("loss", [])),
        "best_val_loss": min(history.get("val_loss", [float("nan")])),
    }
    write_json(root / "metrics.json", summary)
    return summary
