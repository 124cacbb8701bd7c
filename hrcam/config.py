"""Explicit configuration: dataclasses, loaded from YAML presets in ``opts/`` and overridden by flags.

Nothing here reads ``sys.argv`` or touches the filesystem at import time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hrcam.models.densenet_fcn import DenseNetFCNConfig

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "Config", "load_config", "apply_overrides"]


@dataclass
class DataConfig:
    """Where images come from and how they are batched.

    ``source="synthetic"`` generates scenes (``num_classes``, ``train_size``, ``val_size``, ``test_size``);
    ``source="folder"`` reads ``root`` in the ImageNet layout and carves ``val_fraction`` of train as the
    validation split used for model selection (the folder's val/test split is only used for evaluation).
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

    def __post_init__(self) -> None:
        if self.source not in ("synthetic", "folder"):
            raise ValueError(f"data.source must be 'synthetic' or 'folder', got {self.source!r}")
        if self.source == "folder" and not self.root:
            raise ValueError("data.root is required when data.source is 'folder'")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {self.val_fraction!r}")
        for name in ("image_size", "batch_size", "train_size", "val_size", "test_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class ModelConfig(DenseNetFCNConfig):
    """DenseNet-FCN sizes (the fields and defaults of :class:`DenseNetFCNConfig`: the HR-CAM paper's) or a
    ``keras.applications`` backbone (``backbone``, with ``weights`` such as ``"imagenet"``)."""

    backbone: str | None = None
    weights: str | None = None

    def densenet_config(self) -> DenseNetFCNConfig:
        fields = {f.name for f in dataclasses.fields(DenseNetFCNConfig)}
        return DenseNetFCNConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in fields})


@dataclass
class TrainConfig:
    """One training stage. Defaults follow the paper: Adadelta(1.0), ReduceLROnPlateau(sqrt(0.1), 10)."""

    epochs: int = 50
    optimizer: str = "adadelta"
    learning_rate: float = 1.0
    reduce_lr_factor: float = math.sqrt(0.1)
    reduce_lr_patience: int = 10
    min_learning_rate: float = 1e-5
    steps_per_epoch: int | None = None
    checkpoint_every: int = 50
    objective: str = "reconstruct"
    align_weight: float = 1.0

    def __post_init__(self) -> None:
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs!r}")
        if not 0 < self.reduce_lr_factor < 1:
            raise ValueError(f"reduce_lr_factor must be in (0, 1), got {self.reduce_lr_factor!r}")
        if self.objective not in ("reconstruct", "align"):
            raise ValueError(f"objective must be 'reconstruct' or 'align', got {self.objective!r}")


@dataclass
class Config:
    """A whole experiment: data, model, the two training stages and the run directory."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    half: TrainConfig = field(default_factory=TrainConfig)
    full: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    run_dir: str = "runs/default"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Config:
        data = dict(data or {})
        sections = {"data": DataConfig, "model": ModelConfig, "half": TrainConfig, "full": TrainConfig}
        unknown = set(data) - set(sections) - {"run_dir"}
        if unknown:
            raise ValueError(
                f"unknown config section(s) {sorted(unknown)}; expected {sorted(sections)} and run_dir"
            )
        kwargs: dict[str, Any] = {}
        for name, klass in sections.items():
            values = data.get(name) or {}
            if not isinstance(values, dict):
                raise ValueError(f"config section {name!r} must be a mapping, got {values!r}")
            known = {f.name for f in dataclasses.fields(klass)}
            bad = set(values) - known
            if bad:
                raise ValueError(
                    f"unknown key(s) {sorted(bad)} in config section {name!r}; known: {sorted(known)}"
                )
            kwargs[name] = klass(**values)
        if "run_dir" in data:
            kwargs["run_dir"] = str(data["run_dir"])
        return cls(**kwargs)


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def apply_overrides(config: Config, overrides: list[str] | None) -> Config:
    """Apply ``section.key=value`` strings (values parsed as YAML) and return a new validated Config."""
    data = config.to_dict()
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. half.epochs=3)")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        target = data
        for p in parts[:-1]:
            if p not in target or not isinstance(target[p], dict):
                raise ValueError(f"override {item!r}: no config section {p!r}")
            target = target[p]
        if parts[-1] not in target:
            raise ValueError(f"override {item!r}: unknown key {parts[-1]!r}; known: {sorted(target)}")
        target[parts[-1]] = _parse_value(value)
    return Config.from_dict(data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML preset (or the defaults when ``path`` is None) and apply ``overrides``."""
    if path is None:
        config = Config()
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"config file {str(path)!r} must hold a YAML mapping, got {type(data).__name__}")
        config = Config.from_dict(data)
    return apply_overrides(config, overrides)
