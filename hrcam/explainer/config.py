"""Configuration of ``hrcam train-explainer`` (TensorFlow-free): YAML sections ``data``, ``classifier``,
``explainer``, ``train``, ``loss``, ``rtsal`` and ``run_dir``; presets ``explainer-*`` in ``opts/`` (and the
identical copies shipped in ``hrcam/presets/``), read by the one loader of every trainer
(:func:`hrcam.config.load_experiment`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrcam.config import load_experiment
from hrcam.config.loader import build_experiment
from hrcam.config.schema import ConfigError, Rule, Section, at_least, between, one_of, positive
from hrcam.config.sections import (
    DATA_SOURCES,
    MapSummariesConfig,
    TrainerSection,
    check_data_root,
    source_rule,
)

__all__ = [
    "ExplainerExperiment",
    "EXPLAINER_PRESETS",
    "load_explainer_config",
]

EXPLAINER_PRESETS = (
    "explainer-synthetic",
    "explainer-voc2007",
    "explainer-coco2014",
    "explainer-vgg16-voc",
    "explainer-resnet50-voc",
    "explainer-vgg16-coco",
    "explainer-resnet50-coco",
)


@dataclass
class ExplainerData(Section):
    # synthetic (multi-label scenes) | folder (ROOT/masks/<split>/<stem>.png) | voc2007 | voc2012 | coco2014 |
    # coco2017 | cub (the official layouts at `root`; --data voc2007:ROOT sets both)
    source: str = "synthetic"
    root: str | None = None
    image_size: int = 64
    num_classes: int = 5
    objects_per_image: tuple[int, int] = (1, 3)  # synthetic scenes: (min, max) objects of distinct classes
    train_size: int = 2000
    val_size: int = 200
    test_size: int = 200
    void_as_foreground: bool = False  # folder masks: VOC's 255 border counts as object (the original's rule)
    test_limit: int | None = None  # official layouts: a seeded subset of this many test images (COCO: 1000)
    batch_size: int = 16
    seed: int = 0

    RULES = {
        "source": source_rule(DATA_SOURCES),
        **{k: positive() for k in ("image_size", "num_classes", "train_size", "val_size", "test_size")},
        "test_limit": positive(),
        "batch_size": positive(),
        "seed": at_least(0),
    }

    def check(self) -> None:
        check_data_root(self.source, self.root)
        low, high = self.objects_per_image  # synthetic scenes only: objects of distinct classes
        if self.source == "synthetic" and not 1 <= low <= high <= self.num_classes:
            raise ConfigError.expected(
                "objects_per_image",
                list(self.objects_per_image),
                f"[min, max] with 1 <= min <= max <= num_classes ({self.num_classes})",
            )


WEIGHTS = Rule(lambda v: v == "imagenet" or str(v).endswith(".h5"), "'imagenet' or a weights file path (.h5)")
"""keras.applications weights: downloaded ImageNet weights or the same file on disk."""


@dataclass
class ClassifierSection(Section):
    architecture: str = "densenet_fcn"  # vgg16 | resnet50 | densenet_fcn
    weights: str | None = (
        None  # None (from scratch) | imagenet | PATH.h5 (the keras.applications file, offline)
    )
    path: str | None = None  # a trained classifier .keras (else one is trained into RUN_DIR/classifier)
    multi_label: bool = True  # BCE on sigmoid outputs; False = single-label CE
    epochs: int = 20
    learning_rate: float = 1e-3
    patience: int = 5
    num_blocks: int = 3  # DenseNet-FCN sizes (architecture densenet_fcn)
    layers_per_block: int = 4
    growth_rate: int = 12
    initial_filters: int = 32
    hidden_units: int = 4096  # VGG-16 MLP head

    RULES = {
        "architecture": one_of("vgg16", "resnet50", "densenet_fcn"),
        "weights": WEIGHTS,
        "patience": at_least(0),
        **{k: positive() for k in ("epochs", "learning_rate", "num_blocks", "layers_per_block")},
        **{k: positive() for k in ("growth_rate", "initial_filters", "hidden_units")},
    }


def _power_of_two(v: int) -> bool:
    return v >= 1 and not v & (v - 1)


@dataclass
class ExplainerSection(Section):
    backbone: str = "classifier"  # resnet50 (dilated, OS 8) | classifier (its own feature stages)
    weights: str | None = None  # the resnet50 backbone's: None | imagenet | PATH.h5 (a local ResNet-50 file)
    output_stride: int = 8
    channels: int = 256
    rates: tuple[int, ...] = (12, 24, 36)
    dropout: float = 0.5
    decoder_stride: int | None = None  # None: DeepLabv3 (the original) | 4: a DeepLabv3+ decoder at stride 4
    decoder_channels: int = 48

    RULES = {
        "backbone": one_of("resnet50", "classifier"),
        "weights": WEIGHTS,
        "output_stride": positive(),
        "channels": positive(),
        "rates": Rule(lambda v: len(v) > 0 and min(v) >= 1, "a non-empty list of positive ints"),
        "dropout": between(0, 1, "[)"),
        "decoder_stride": Rule(_power_of_two, "a power of 2 below the backbone's output stride"),
        "decoder_channels": positive(),
    }


@dataclass
class ExplainerTrain(TrainerSection):
    """The trainers' keys (``strategy`` distributes the Explainer stage) and the Explainer's own."""

    epochs: int = 30
    variant: str = "explainer"  # explainer | rtsal (Real-Time Saliency's loss)
    classifier_loss: str = "bce"  # bce | ce (masked-in term)
    learning_rate: float = 1e-4
    patience: int = 5  # early stopping on val_loss
    min_delta: float = 1e-3

    RULES = TrainerSection.RULES | {
        "variant": one_of("explainer", "rtsal"),
        "classifier_loss": one_of("bce", "ce"),
        "learning_rate": positive(),
        "patience": positive(),
        "min_delta": at_least(0),
    }


@dataclass
class ExplainerLoss(Section):
    entropy: float = 1.0  # l_e
    tv: float = 1.0  # l_tv
    area: float = 1.0  # l_a
    total: float = 0.1  # l_tot
    non_target: float = 0.3  # l_nc
    min_area: float = 0.05
    max_area: float = 0.3

    RULES = {
        **{k: at_least(0) for k in ("entropy", "tv", "area", "total", "non_target")},
        "min_area": between(0, 1),
        "max_area": between(0, 1),
    }

    def check(self) -> None:
        if self.min_area > self.max_area:
            raise ConfigError.expected("max_area", self.max_area, f"a number >= min_area ({self.min_area})")


@dataclass
class RTSalLoss(Section):
    """Real-Time Saliency: tv * TV2(m) + area * mean(m) + preserve * L_pres + destroy * L_destr ** power."""

    tv: float = 10.0  # squared total variation of the mask
    area: float = 1.0  # mean of the mask
    preserve: float = 1.0  # -log sigmoid of the target classes on phi(x, m)
    destroy: float = 5.0  # sigmoid of the target classes on phi(x, 1 - m) ...
    destroy_power: float = 0.3  # ... to this power
    noise_std: float = 0.11  # the colour alternative's noise (NN-Explainer used std 1 by mistake)
    blur_sigma: float = 10.0  # pixels at 224 px; scaled with the image size

    RULES = {
        k: at_least(0)
        for k in ("tv", "area", "preserve", "destroy", "destroy_power", "noise_std", "blur_sigma")
    }


@dataclass
class ExplainerExperiment(Section):
    """The whole ``train-explainer`` experiment (see the module docstring)."""

    data: ExplainerData = field(default_factory=ExplainerData)
    classifier: ClassifierSection = field(default_factory=ClassifierSection)
    explainer: ExplainerSection = field(default_factory=ExplainerSection)
    train: ExplainerTrain = field(default_factory=ExplainerTrain)
    loss: ExplainerLoss = field(default_factory=ExplainerLoss)
    rtsal: RTSalLoss = field(default_factory=RTSalLoss)
    summaries: MapSummariesConfig = field(default_factory=MapSummariesConfig)
    run_dir: str = "runs/explainer"

    NAME = "Explainer"
    PRESETS = EXPLAINER_PRESETS

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for sec in out.values():
            if isinstance(sec, dict):
                for k, v in sec.items():
                    if isinstance(v, tuple):
                        sec[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExplainerExperiment:
        """An experiment from a nested dict (a loaded YAML file), checked as :func:`load_explainer_config`
        checks it."""
        return build_experiment(cls, data, "Explainer config")


def load_explainer_config(
    path_or_preset: str | Path | None = None, overrides: list[str] | None = None
) -> ExplainerExperiment:
    """An :class:`ExplainerExperiment` from a preset name (:data:`EXPLAINER_PRESETS`), a YAML file, or the
    defaults (None), with ``section.key=value`` overrides (values parsed as YAML), through the one loader
    (:func:`hrcam.config.load_experiment`).

    Raises:
        FileNotFoundError: a missing file. ValueError: invalid YAML (file and line), unknown sections/keys
        or invalid values (naming the key, the value and what was expected).
    """
    return load_experiment(ExplainerExperiment, path_or_preset, overrides)
