"""What every trainer's config shares (TensorFlow-free): the strategy names, the data source names, the
data section of the HR-CAM and CASM experiments, and the map summaries every trainer writes to TensorBoard.

:data:`STRATEGIES` is the one list of ``tf.distribute`` strategy names: the config sections check
``strategy`` against :data:`STRATEGY`, the commands offer them as ``--strategy`` choices, and
:mod:`hrcam.training.strategy` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hrcam.config.schema import ConfigError, Rule, Section, at_least, between, one_of, positive

__all__ = [
    "TrainerSection",
    "AcceleratedTrainerSection",
    "DATA_SOURCES",
    "MULTI_LABEL_SOURCES",
    "SINGLE_LABEL_SOURCES",
    "STRATEGIES",
    "STRATEGY",
    "DataConfig",
    "check_data_root",
    "source_rule",
    "MapSummariesConfig",
    "SUMMARY_TARGETS",
]

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
"""``tf.distribute`` strategies by name (see :mod:`hrcam.training.strategy`)."""

STRATEGY = one_of(*STRATEGIES)
"""The rule of every ``strategy`` key."""

MULTI_LABEL_SOURCES = ("voc2007", "voc2012", "coco2014", "coco2017")
SINGLE_LABEL_SOURCES = ("synthetic", "folder", "cub")
DATA_SOURCES = ("synthetic", "folder", *MULTI_LABEL_SOURCES, "cub")
"""The ``data.source`` names (``--data SOURCE:ROOT``), resolved to datasets by :mod:`hrcam.data.resolve`."""


def source_rule(sources: tuple[str, ...]) -> Rule:
    """The rule of a ``data.source`` key: one of ``sources`` (:mod:`hrcam.data.resolve`)."""
    text = "one of " + ", ".join(map(repr, sources))
    if set(MULTI_LABEL_SOURCES) - set(sources):
        text += " (the multi-label VOC / COCO layouts are the Explainer's: train-explainer, score --masks)"
    return Rule(lambda v: v in sources, text)


def check_data_root(source: str, root: str | None) -> None:
    """Every data source but ``synthetic`` needs its folder."""
    if source != "synthetic" and not root:
        raise ConfigError.expected("root", root, f"a folder path when `source` is {source!r}")


@dataclass
class DataConfig(Section):
    """Where images come from and how they are batched.

    ``source="synthetic"`` generates scenes (``num_classes``, ``train_size``, ``val_size``, ``test_size``);
    ``source="folder"`` reads ``root`` in the ImageNet layout and carves ``val_fraction`` of train as the
    validation split used for model selection (the folder's val/test split is only used for evaluation);
    ``source="cub"`` reads CUB-200-2011 at ``root`` (:mod:`hrcam.data.cub`; ``--data cub:ROOT``).
    """

    source: str = "synthetic"
    root: str | None = None
    bbox_dir: str | None = None
    image_size: int = 64
    num_classes: int = 6
    train_size: int = 1200
    val_size: int = 200
    test_size: int = 200
    val_fraction: float = 0.1
    batch_size: int = 32
    augment: bool = True
    cache: bool = True
    seed: int = 0

    RULES = {
        "source": source_rule(SINGLE_LABEL_SOURCES),
        "val_fraction": between(0, 1, "()"),
        "seed": at_least(0),
        **{k: positive() for k in ("image_size", "num_classes", "train_size", "val_size", "test_size")},
        "batch_size": positive(),
    }

    def check(self) -> None:
        check_data_root(self.source, self.root)


@dataclass
class TrainerSection(Section):
    """The keys every trainer's training section has: ``epochs``, ``steps_per_epoch`` (None: the whole
    dataset), ``checkpoint_every`` (batches between resumable state saves) and ``strategy``
    (``tf.distribute``: default, mirrored, multiworker, tpu; :mod:`hrcam.training.strategy`)."""

    epochs: int = 10
    steps_per_epoch: int | None = None
    checkpoint_every: int = 50
    strategy: str = "default"

    RULES = {k: positive() for k in ("epochs", "steps_per_epoch", "checkpoint_every")} | {
        "strategy": STRATEGY
    }


@dataclass
class AcceleratedTrainerSection(TrainerSection):
    """A :class:`TrainerSection` with ``mixed_precision`` (mixed_float16, GPU only) and ``jit_compile`` (XLA
    for the train step; slower on CPU)."""

    mixed_precision: bool = False
    jit_compile: bool = False


SUMMARY_TARGETS = ("label", "predicted", "all")
"""Which class the map summaries explain: the true one, the predicted one, or every class."""


@dataclass
class MapSummariesConfig(Section):
    """Maps in TensorBoard during training (the ``summaries`` section of every trainer's config).

    Every ``every`` epochs (0: off) the maps of the first ``images`` validation images, from each map source
    in ``sources`` (specs of :mod:`hrcam.sources`; empty: the trained model's own map, e.g. ``cam`` for stage
    1, ``high_res_cam`` for stage 2, ``casm``, ``explainer``, ``gradcam`` for a plain classifier), are drawn
    over their images and written as image summaries to ``RUN_DIR/logs/<stage>/maps``
    (:class:`hrcam.callbacks.MapSummaries`). ``target``: the class explained, ``label`` (the true class;
    the predicted one where the labels are not one class per image), ``predicted`` or ``all`` (one summary
    per class).
    """

    every: int = 0
    sources: list[str] = field(default_factory=list)
    images: int = 4
    target: str = "label"

    RULES = {"every": at_least(0), "images": positive(), "target": one_of(*SUMMARY_TARGETS)}
