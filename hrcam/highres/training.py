"""HR-CAM's two training stages in a run directory (``hrcam train-half`` / ``train-full``, the demo).

Stage 1 trains the HalfModel classifier (the paper's Adadelta, learning rate 1.0); stage 2 the FullModel's
expansion path with the classifier frozen (:mod:`hrcam.highres.stage2`). Both resume from the run
directory (:mod:`hrcam.training.runner`) and run under the configured ``tf.distribute`` strategy. Given a
``map_summaries`` hook (:mod:`hrcam.training.summaries`), each stage writes maps of validation images to
TensorBoard (stage 1: ``cam``, stage 2: ``high_res_cam`` unless the hook names sources).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrcam.config import Config
from hrcam.highres.compiling import classifier_compile_args, labels_are_one_hot
from hrcam.highres.half import HalfModel
from hrcam.io import write_json
from hrcam.training.runner import (
    fit_resumable,
    prepare_run_dir,
    reload_model,
    run_callbacks,
    worker_config,
)
from hrcam.training.summaries import MapSubject, MapSummaryHook, summary_callbacks

__all__ = ["compile_half_model", "init_from", "train_half", "train_full"]


def compile_half_model(
    model, train_data: Any = None, optimizer: str = "adadelta", learning_rate: float = 1.0
):
    """Compile a HalfModel with cross-entropy (sparse or one-hot, read from ``train_data``), accuracy and
    top-5; returns it."""
    one_hot = labels_are_one_hot(train_data)
    if isinstance(model, HalfModel):
        model.compile(optimizer=optimizer, learning_rate=learning_rate, one_hot=one_hot)
    else:  # a plain keras.Model classifier (e.g. ``hm.model``)
        model.compile(
            **classifier_compile_args(int(model.output_shape[-1]), one_hot, optimizer, learning_rate)
        )
    return model


def init_from(model, path: str) -> None:
    """Copy the weights of the HalfModel saved at ``path`` into ``model`` (same architecture; the input
    size may differ: the DenseNet-FCN's weights do not depend on it). An ``.h5`` file: the original HR-CAM
    code's (Keras 2, by layer name: :mod:`hrcam.highres.original_weights`; pixel_scaling raw255)."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"`half.init_weights`: no HalfModel at {str(path)!r} (train the smaller model first, or set "
            "half.init_weights=null)"
        )
    if str(path).endswith(".h5"):
        from hrcam.highres.original_weights import check_weights_file, load_weights_file

        if check_weights_file(path) and model.config.pixel_scaling != "raw255":
            raise ValueError(
                f"`half.init_weights` {path!r} holds the original code's weights, trained on 0-255 pixels: "
                "set model.pixel_scaling=raw255"
            )
        load_weights_file(model.model, path, model.config.num_blocks)
        return
    source = HalfModel.load(path)
    want = [tuple(w.shape) for w in model.weights]
    got = [tuple(w.shape) for w in source.weights]
    if want != got:
        raise ValueError(
            f"`half.init_weights` {path!r} is a HalfModel with {len(got)} weights of other shapes than "
            f"this config's model ({len(want)} weights): use the same `model` section"
        )
    model.set_weights(source.get_weights())


def train_half(
    config: Config,
    train_ds,
    val_ds,
    num_classes: int,
    verbose: Any = "auto",
    map_summaries: MapSummaryHook | None = None,
    class_names: list[str] | None = None,
):
    """Stage 1: train (or resume) the HalfModel under ``config.half.strategy``; returns the best HalfModel.

    ``map_summaries``: a hook (:func:`hrcam.callbacks.summaries_hook`) that writes maps of ``val_ds`` images
    to ``RUN_DIR/logs/half/maps`` (``class_names`` name the classes there)."""
    from hrcam.training.strategy import check_global_batch, prepare_for_training, strategy_scope

    size = config.data.image_size
    with strategy_scope(config.half) as strategy:
        check_global_batch(config.data.batch_size, strategy)
        paths = prepare_run_dir(worker_config(config, strategy))
        hm = HalfModel(
            num_classes,
            (size, size, 3),
            config.model.densenet_config(),
            backbone=config.model.backbone,
            weights=config.model.weights,
        )
        compile_half_model(hm, train_ds, config.half.optimizer, config.half.learning_rate)
        prepare_for_training(hm, strategy, config.half)
        callbacks, state = run_callbacks(paths, "half", config.half, "val_accuracy", "max")
        subject = MapSubject(hm, "cam", paths.logs("half"), val_ds, class_names=class_names)
        callbacks[-1:-1] = summary_callbacks(map_summaries, subject)  # before the state (saved last)
        if config.half.init_weights and state.read() is None:  # a resumed run keeps its own weights
            init_from(hm, config.half.init_weights)
        history = fit_resumable(hm, state, callbacks, train_ds, val_ds, config.half, verbose)
    write_json(paths.history("half"), history)
    return HalfModel.load(paths.best("half") if paths.best("half").is_file() else paths.last("half"))


def train_full(
    config: Config,
    half_model,
    train_ds,
    val_ds,
    verbose: Any = "auto",
    stage: str = "full",
    map_summaries: MapSummaryHook | None = None,
    class_names: list[str] | None = None,
):
    """Stage 2: build the FullModel on ``half_model`` (a HalfModel or its ``.keras`` path), freeze the
    classifier, train the expansion path under ``config.full.strategy``.

    ``stage`` names the sub-directory of the run (``full`` by default; e.g. ``full_align`` to keep a
    second objective beside the first). ``map_summaries``, ``class_names``: as for :func:`train_half`
    (the FullModel's ``high_res_cam`` unless the hook names sources, in ``RUN_DIR/logs/<stage>/maps``).
    """
    from hrcam.highres.full import FullModel
    from hrcam.highres.stage2 import compile_stage2, stage2_dataset
    from hrcam.training.strategy import check_global_batch, prepare_for_training, strategy_scope

    with strategy_scope(config.full) as strategy:
        check_global_batch(config.data.batch_size, strategy)
        paths = prepare_run_dir(worker_config(config, strategy))
        if isinstance(half_model, (str, Path)):
            half_model = HalfModel.load(half_model)
        elif config.full.strategy != "default":  # its variables must be created under the strategy
            half_model = reload_model(half_model)
        fm = FullModel(half_model, objective=config.full.objective)
        train_model = compile_stage2(
            fm, config.full.optimizer, config.full.learning_rate, config.full.align_weight
        )
        prepare_for_training(train_model, strategy, config.full)
        callbacks, state = run_callbacks(paths, stage, config.full, "val_loss", "min", save_fn=fm.save)
        subject = MapSubject(fm, "high_res_cam", paths.logs(stage), val_ds, class_names=class_names)
        callbacks[-1:-1] = summary_callbacks(map_summaries, subject)
        history = fit_resumable(
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
