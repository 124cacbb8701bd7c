"""Configuration of ``hrcam train-explainer`` (TensorFlow-free): YAML sections ``data``, ``classifier``,
``explainer``, ``train``, ``loss``, ``rtsal`` and ``run_dir``; presets ``explainer-*`` in ``opts/`` (and the
identical copies shipped in ``hrcam/presets/``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ExplainerExperiment",
    "EXPLAINER_PRESETS",
    "load_explainer_config",
]

EXPLAINER_PRESETS = (
    "explainer-synthetic",
    "explainer-vgg16-voc",
    "explainer-resnet50-voc",
    "explainer-vgg16-coco",
    "explainer-resnet50-coco",
)


def _check(cond: bool, section: str, key: str, value: Any, expected: str) -> None:
    if not cond:
        raise ValueError(f"config `{section}.{key}` must be {expected}, got {value!r}")


@dataclass
class ExplainerData:
    source: str = "synthetic"  # synthetic (multi-label scenes) | folder (ROOT/masks/<split>/<stem>.png)
    root: str | None = None
    image_size: int = 64
    num_classes: int = 5
    objects_per_image: tuple[int, int] = (1, 3)  # synthetic scenes: (min, max) objects of distinct classes
    train_size: int = 2000
    val_size: int = 200
    test_size: int = 200
    void_as_foreground: bool = False  # folder masks: VOC's 255 border counts as object (the original's rule)
    batch_size: int = 16
    seed: int = 0

    def check(self) -> None:
        _check(
            self.source in ("synthetic", "folder"), "data", "source", self.source, "'synthetic' or 'folder'"
        )
        _check(
            self.source != "folder" or bool(self.root), "data", "root", self.root, "a path for folder data"
        )
        for key in ("image_size", "num_classes", "train_size", "val_size", "test_size", "batch_size"):
            v = getattr(self, key)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, "data", key, v, "an int >= 1")
        self.objects_per_image = tuple(self.objects_per_image)


@dataclass
class ClassifierSection:
    architecture: str = "densenet_fcn"  # vgg16 | resnet50 | densenet_fcn
    weights: str | None = None  # None (offline) | imagenet
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

    def check(self) -> None:
        archs = ("vgg16", "resnet50", "densenet_fcn")
        _check(self.architecture in archs, "classifier", "architecture", self.architecture, f"one of {archs}")
        _check(
            self.weights in (None, "imagenet"), "classifier", "weights", self.weights, "null or 'imagenet'"
        )
        _check(self.epochs >= 1, "classifier", "epochs", self.epochs, ">= 1")
        _check(self.learning_rate > 0, "classifier", "learning_rate", self.learning_rate, "> 0")


@dataclass
class ExplainerSection:
    backbone: str = "classifier"  # resnet50 (dilated, OS 8) | classifier (its own feature stages)
    weights: str | None = None
    output_stride: int = 8
    channels: int = 256
    rates: tuple[int, ...] = (12, 24, 36)
    dropout: float = 0.5
    decoder_stride: int | None = None  # None: DeepLabv3 (the original) | 4: a DeepLabv3+ decoder at stride 4
    decoder_channels: int = 48

    def check(self) -> None:
        _check(
            self.decoder_stride is None
            or (
                not isinstance(self.decoder_stride, bool)
                and isinstance(self.decoder_stride, int)
                and self.decoder_stride >= 1
                and not self.decoder_stride & (self.decoder_stride - 1)
            ),
            "explainer",
            "decoder_stride",
            self.decoder_stride,
            "null or a power of 2 below the backbone's output stride",
        )
        _check(self.decoder_channels >= 1, "explainer", "decoder_channels", self.decoder_channels, ">= 1")
        _check(
            self.backbone in ("resnet50", "classifier"),
            "explainer",
            "backbone",
            self.backbone,
            "'resnet50' or 'classifier'",
        )
        _check(0 <= self.dropout < 1, "explainer", "dropout", self.dropout, "in [0, 1)")
        self.rates = tuple(int(r) for r in self.rates)


@dataclass
class ExplainerTrain:
    variant: str = "explainer"  # explainer | rtsal (Real-Time Saliency's loss)
    classifier_loss: str = "bce"  # bce | ce (masked-in term)
    epochs: int = 30
    learning_rate: float = 1e-4
    patience: int = 5  # early stopping on val_loss
    min_delta: float = 1e-3
    steps_per_epoch: int | None = None
    checkpoint_every: int = 50
    strategy: str = "default"  # tf.distribute of the Explainer stage: default | mirrored | multiworker | tpu

    def check(self) -> None:
        from hrcam.training.strategy import STRATEGIES

        _check(
            self.variant in ("explainer", "rtsal"), "train", "variant", self.variant, "'explainer' or 'rtsal'"
        )
        _check(self.strategy in STRATEGIES, "train", "strategy", self.strategy, f"one of {list(STRATEGIES)}")
        _check(
            self.classifier_loss in ("bce", "ce"),
            "train",
            "classifier_loss",
            self.classifier_loss,
            "'bce' or 'ce'",
        )
        _check(self.epochs >= 1, "train", "epochs", self.epochs, ">= 1")
        _check(self.learning_rate > 0, "train", "learning_rate", self.learning_rate, "> 0")
        _check(self.patience >= 1, "train", "patience", self.patience, ">= 1")


@dataclass
class ExplainerLoss:
    entropy: float = 1.0  # l_e
    tv: float = 1.0  # l_tv
    area: float = 1.0  # l_a
    total: float = 0.1  # l_tot
    non_target: float = 0.3  # l_nc
    min_area: float = 0.05
    max_area: float = 0.3

    def check(self) -> None:
        for key in ("entropy", "tv", "area", "total", "non_target"):
            _check(getattr(self, key) >= 0, "loss", key, getattr(self, key), ">= 0")
        _check(
            0 <= self.min_area <= self.max_area <= 1,
            "loss",
            "min_area/max_area",
            (self.min_area, self.max_area),
            "0 <= min_area <= max_area <= 1",
        )


@dataclass
class RTSalLoss:
    """Real-Time Saliency: tv * TV2(m) + area * mean(m) + preserve * L_pres + destroy * L_destr ** power."""

    tv: float = 10.0  # squared total variation of the mask
    area: float = 1.0  # mean of the mask
    preserve: float = 1.0  # -log sigmoid of the target classes on phi(x, m)
    destroy: float = 5.0  # sigmoid of the target classes on phi(x, 1 - m) ...
    destroy_power: float = 0.3  # ... to this power
    noise_std: float = 0.11  # the colour alternative's noise (NN-Explainer used std 1 by mistake)
    blur_sigma: float = 10.0  # pixels at 224 px; scaled with the image size

    def check(self) -> None:
        for f in dataclasses.fields(self):
            _check(getattr(self, f.name) >= 0, "rtsal", f.name, getattr(self, f.name), ">= 0")


_SECTIONS = {
    "data": ExplainerData,
    "classifier": ClassifierSection,
    "explainer": ExplainerSection,
    "train": ExplainerTrain,
    "loss": ExplainerLoss,
    "rtsal": RTSalLoss,
}


@dataclass
class ExplainerExperiment:
    """The whole ``train-explainer`` experiment (see the module docstring)."""

    data: ExplainerData = field(default_factory=ExplainerData)
    classifier: ClassifierSection = field(default_factory=ClassifierSection)
    explainer: ExplainerSection = field(default_factory=ExplainerSection)
    train: ExplainerTrain = field(default_factory=ExplainerTrain)
    loss: ExplainerLoss = field(default_factory=ExplainerLoss)
    rtsal: RTSalLoss = field(default_factory=RTSalLoss)
    run_dir: str = "runs/explainer"

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
        from hrcam.config import build_sections

        data = dict(data or {})
        unknown = set(data) - set(_SECTIONS) - {"run_dir"}
        if unknown:
            raise ValueError(
                f"unknown config section(s) {sorted(unknown)}; expected {sorted(_SECTIONS)}, run_dir"
            )
        try:
            kwargs = build_sections(data, _SECTIONS)
        except TypeError as e:
            raise ValueError(f"config: {e}") from None
        if "run_dir" in data:
            kwargs["run_dir"] = str(data["run_dir"])
        for name in _SECTIONS:
            kwargs[name].check()
        return cls(**kwargs)


def load_explainer_config(path_or_preset: str | Path | None = None, overrides: list[str] | None = None):
    """An :class:`ExplainerExperiment` from a preset name (:data:`EXPLAINER_PRESETS`), a YAML file, or the
    defaults (None), with ``section.key=value`` overrides (values parsed as YAML).

    Raises:
        FileNotFoundError: a missing file. ValueError: unknown sections/keys or invalid values (naming them).
    """
    if path_or_preset is None:
        data: dict[str, Any] = {}
    elif isinstance(path_or_preset, str) and path_or_preset in EXPLAINER_PRESETS:
        text = resources.files("hrcam").joinpath("presets", f"{path_or_preset}.yaml").read_text("utf-8")
        data = yaml.safe_load(text) or {}
    else:
        path = Path(path_or_preset)
        if not path.is_file():
            raise FileNotFoundError(
                f"config file {str(path)!r} does not exist (presets: {EXPLAINER_PRESETS})"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"config file {str(path)!r} must hold a YAML mapping")
    data = ExplainerExperiment.from_dict(data).to_dict()
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. train.epochs=3)")
        key, value = item.split("=", 1)
        section, name = key.strip().split(".", 1)
        if section not in data or not isinstance(data[section], dict):
            raise ValueError(f"override {item!r}: no config section {section!r}")
        if name not in data[section]:
            raise ValueError(f"override {item!r}: unknown key {name!r}; known: {sorted(data[section])}")
        data[section][name] = yaml.safe_load(value)
    return ExplainerExperiment.from_dict(data)
