"""HR-CAM's experiment schema (TensorFlow-free): data, model, the two training stages, the run directory.

Presets ship inside the package (``hrcam/presets/*.yaml``, read with :mod:`importlib.resources`, so a
wheel install finds them); ``opts/`` at the repository root holds the same files as the user-facing copy
(a test keeps the two identical). :func:`load_config` takes a preset name (``"demo"``) or a file path and
reads it with the one loader of every trainer (:mod:`hrcam.config.loader`).

The network sizes (:class:`DenseNetFCNConfig`) are defined here and used by
:mod:`hrcam.highres.densenet_fcn` (which also recovers them from a built model). Nothing here reads
``sys.argv`` or touches the filesystem at import time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrcam.config.loader import apply_overrides_to, build_experiment, load_experiment
from hrcam.config.schema import ConfigError, Rule, Section, at_least, between, one_of, positive
from hrcam.config.sections import AcceleratedTrainerSection, DataConfig, MapSummariesConfig

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "DenseNetFCNConfig",
    "ModelConfig",
    "TrainConfig",
    "Config",
    "PRESETS",
    "OBJECTIVES",
    "OPTIMIZERS",
    "preset_path",
    "load_config",
    "apply_overrides",
]

PRESETS = ("demo", "synthetic", "tiny-imagenet", "tiny-imagenet-128", "animals-224")
"""Names of the presets shipped in ``hrcam/presets/`` (``opts/<name>.yaml`` in the repository)."""

OBJECTIVES = ("reconstruct", "align", "distil")
"""Stage-2 objectives of the FullModel (``full.objective``)."""

OPTIMIZERS = ("adadelta", "adam", "sgd")
"""Optimizers by name (``half.optimizer``; built by :func:`hrcam.highres.compiling.make_optimizer`)."""


@dataclass(frozen=True)
class DenseNetFCNConfig(Section):
    """Sizes of the DenseNet-FCN built by :mod:`hrcam.highres.densenet_fcn`. Defaults are the HR-CAM
    paper's configuration. Defined here (TensorFlow-free) so that :class:`ModelConfig` derives from it;
    :func:`hrcam.highres.densenet_fcn.config_of` recovers them from a built model."""

    num_blocks: int = 4
    layers_per_block: int = 4
    growth_rate: int = 16
    initial_filters: int = 48
    early_transition: bool = True
    weight_decay: float = 1e-4
    cam_channels: int = 16
    dropout: float = 0.0
    # what the first convolution sees of [0, 1] pixels: "symmetric" [-1, 1] (hrcam's), "raw255" [0, 255] (the
    # original HR-CAM code fed raw pixels: its weights need it; set by HalfModel(weights="best_weights.h5"))
    pixel_scaling: str = "symmetric"

    RULES = {
        **{k: positive() for k in ("num_blocks", "layers_per_block", "growth_rate", "initial_filters")},
        "cam_channels": positive(),
        "weight_decay": at_least(0),
        "dropout": between(0, 1, "[)"),
        "pixel_scaling": one_of("symmetric", "raw255"),
    }

    @property
    def downsampling(self) -> int:
        """Total down-sampling factor of the encoder (input size / bottleneck size)."""
        return 2 ** (self.num_blocks + int(self.early_transition))

    @property
    def cam_stride(self) -> int:
        """Input size / CAM size (16 for the paper's configuration)."""
        return self.downsampling // 2

    def to_dict(self) -> dict:
        return asdict(self)

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Raise ValueError if (H, W, C) cannot be down-sampled ``downsampling`` times exactly."""
        if len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}")
        h, w, c = input_shape
        for name, v in (("height", h), ("width", w), ("channels", c)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"`input_shape` {name} must be a positive int, got {input_shape!r}")
        if h % self.downsampling or w % self.downsampling:
            raise ValueError(
                f"`input_shape` {input_shape!r}: height and width must be multiples of {self.downsampling} "
                f"(2 ** (num_blocks={self.num_blocks} + early_transition={int(self.early_transition)})); "
                f"e.g. {self.downsampling * max(1, round(h / self.downsampling))}"
            )


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
class TrainConfig(AcceleratedTrainerSection):
    """One training stage (the trainers' keys of :class:`~hrcam.config.sections.AcceleratedTrainerSection`,
    and these). Defaults follow the paper: Adadelta(1.0), ReduceLROnPlateau(sqrt(0.1), 10)."""

    epochs: int = 50
    optimizer: str = "adadelta"
    learning_rate: float = 1.0
    reduce_lr_factor: float = math.sqrt(0.1)
    reduce_lr_patience: int = 10
    min_learning_rate: float = 1e-5
    objective: str = "reconstruct"
    align_weight: float = 1.0
    # stage 1 only: a trained HalfModel (.keras) whose weights start a new run (same architecture, any
    # input size: e.g. fine-tuning a 64x64 model at 128x128), or the original HR-CAM code's best_weights.h5
    # (with model.pixel_scaling: raw255); a resumed run keeps its own weights
    init_weights: str | None = None

    RULES = AcceleratedTrainerSection.RULES | {
        "optimizer": one_of(*OPTIMIZERS),
        "learning_rate": positive(),
        "reduce_lr_factor": between(0, 1, "()"),
        "reduce_lr_patience": at_least(0),
        "min_learning_rate": at_least(0),
        "objective": one_of(*OBJECTIVES),
        "align_weight": at_least(0),
        "init_weights": Rule(
            lambda v: str(v).endswith((".keras", ".h5")), "a .keras path (or the original HR-CAM code's .h5)"
        ),
    }


@dataclass
class Config(Section):
    """A whole HR-CAM experiment: data, model, the two training stages, the map summaries written to
    TensorBoard during training and the run directory."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    half: TrainConfig = field(default_factory=TrainConfig)
    full: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    summaries: MapSummariesConfig = field(default_factory=MapSummariesConfig)
    run_dir: str = "runs/default"

    NAME = "HR-CAM"
    PRESETS = PRESETS

    def check(self) -> None:
        if self.full.init_weights:
            raise ConfigError.expected(
                "full.init_weights",
                self.full.init_weights,
                "null",
                "it is not used: stage 2 starts from the HalfModel given by --half; set half.init_weights "
                "for stage 1",
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Config:
        """A Config from a nested dict (a loaded YAML file), checked as :func:`load_config` checks it."""
        return build_experiment(cls, data, "HR-CAM config")


def apply_overrides(config: Config, overrides: list[str] | None) -> Config:
    """Apply ``section.key=value`` strings (values parsed as YAML) and return a new validated Config."""
    data = apply_overrides_to(config.to_dict(), Config, overrides, "HR-CAM config")
    return build_experiment(Config, data, "HR-CAM config")


def preset_path(name: str) -> Traversable:
    """The shipped preset ``name`` (one of :data:`PRESETS`) as a readable file inside the package.

    Returns an :mod:`importlib.resources` traversable (``.read_text()``, ``.open()``, ``.name``; a
    ``pathlib.Path`` for an ordinary install). Raises ValueError for an unknown name.
    """
    from importlib import resources

    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {name!r}")
    return resources.files("hrcam").joinpath("presets", f"{name}.yaml")


def load_config(path_or_preset: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a preset or a YAML file (the defaults when None) and apply ``overrides``.

    ``path_or_preset``: a preset name from :data:`PRESETS` (``"demo"``, ``"synthetic"``,
    ``"tiny-imagenet"``; read from inside the package, whatever the working directory) or the path of a
    YAML file. ``overrides``: ``section.key=value`` strings (see :mod:`hrcam.config.loader`).
    Raises FileNotFoundError for a missing file path, ValueError for a bare name that is neither a preset
    nor a file (the message lists the presets), for invalid YAML (file and line) and for any unknown or
    invalid key (:class:`~hrcam.config.schema.ConfigError`: the key, the value and what was expected).
    """
    return load_experiment(Config, path_or_preset, overrides)
