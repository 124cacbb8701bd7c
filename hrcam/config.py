"""Explicit configuration: dataclasses, loaded from YAML presets and overridden by flags.

Presets ship inside the package (``hrcam/presets/*.yaml``, read with :mod:`importlib.resources`, so a
wheel install finds them); ``opts/`` at the repository root holds the same files as the user-facing copy
(a test keeps the two identical). :func:`load_config` takes a preset name (``"demo"``) or a file path.

This module is TensorFlow-free (``import hrcam.config`` loads neither TensorFlow nor Keras): the network
sizes (:class:`DenseNetFCNConfig`) are defined here and used by :mod:`hrcam.highres.densenet_fcn`.
Nothing here reads ``sys.argv`` or touches the filesystem at import time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import keras

__all__ = [
    "DataConfig",
    "DenseNetFCNConfig",
    "ModelConfig",
    "TrainConfig",
    "Config",
    "PRESETS",
    "preset_path",
    "load_config",
    "apply_overrides",
]

PRESETS = ("demo", "synthetic", "tiny-imagenet", "tiny-imagenet-128")
"""Names of the presets shipped in ``hrcam/presets/`` (``opts/<name>.yaml`` in the repository)."""


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
class DenseNetFCNConfig:
    """Sizes of the DenseNet-FCN built by :mod:`hrcam.highres.densenet_fcn`. Defaults are the HR-CAM
    paper's configuration. Defined here (TensorFlow-free) so that :class:`ModelConfig` derives from it."""

    num_blocks: int = 4
    layers_per_block: int = 4
    growth_rate: int = 16
    initial_filters: int = 48
    early_transition: bool = True
    weight_decay: float = 1e-4
    cam_channels: int = 16
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("num_blocks", "layers_per_block", "growth_rate", "initial_filters", "cam_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout!r}")
        if self.weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {self.weight_decay!r}")

    @property
    def downsampling(self) -> int:
        """Total down-sampling factor of the encoder (input size / bottleneck size)."""
        return 2 ** (self.num_blocks + int(self.early_transition))

    @property
    def cam_stride(self) -> int:
        """Input size / CAM size (16 for the paper's configuration)."""
        return self.downsampling // 2

    @classmethod
    def from_model(cls, model: keras.Model) -> DenseNetFCNConfig | None:
        """Recover the sizes of a model built by this module from its layer names (None if it is not one)."""
        names = {layer.name for layer in model.layers}
        if "initial_conv" not in names or "dense0_0_conv" not in names:
            return None
        num_blocks = sum(1 for n in names if n.startswith("tr") and n.endswith("_pool") and n[2:-5].isdigit())
        reg = model.get_layer("initial_conv").kernel_regularizer
        dropout = model.get_layer("dense0_0_dropout").rate if "dense0_0_dropout" in names else 0.0
        return cls(
            num_blocks=num_blocks,
            layers_per_block=sum(1 for n in names if n.startswith("dense0_") and n.endswith("_conv")),
            growth_rate=int(model.get_layer("dense0_0_conv").filters),
            initial_filters=int(model.get_layer("initial_conv").filters),
            early_transition="tr_early_pool" in names,
            weight_decay=float(reg.l2) if reg is not None else 0.0,
            cam_channels=int(model.get_layer("conv_aux").filters),
            dropout=float(dropout),
        )

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
    strategy: str = "default"  # tf.distribute: default, mirrored, multiworker, tpu (hrcam.training.strategy)
    mixed_precision: bool = False  # mixed_float16, GPU only
    jit_compile: bool = False  # XLA for the train step (slower on CPU)
    # stage 1 only: a trained HalfModel (.keras) whose weights start a new run (same architecture, any
    # input size: e.g. fine-tuning a 64x64 model at 128x128); a resumed run keeps its own weights
    init_weights: str | None = None

    def __post_init__(self) -> None:
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs!r}")
        if self.init_weights is not None and not isinstance(self.init_weights, str):
            raise ValueError(f"init_weights must be a .keras path or null, got {self.init_weights!r}")
        if not 0 < self.reduce_lr_factor < 1:
            raise ValueError(f"reduce_lr_factor must be in (0, 1), got {self.reduce_lr_factor!r}")
        if self.objective not in ("reconstruct", "align", "distil"):
            raise ValueError(f"objective must be 'reconstruct', 'align' or 'distil', got {self.objective!r}")
        if self.strategy not in ("default", "mirrored", "multiworker", "tpu"):
            raise ValueError(
                f"strategy must be one of default, mirrored, multiworker, tpu, got {self.strategy!r}"
            )


@dataclass
class Config:
    """A whole experiment: data, model, the two training stages and the run directory."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    half: TrainConfig = field(default_factory=TrainConfig)
    full: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    run_dir: str = "runs/default"

    def __post_init__(self) -> None:
        if self.full.init_weights:
            raise ValueError(
                f"`full.init_weights` is not used (got {self.full.init_weights!r}): stage 2 starts from the "
                "HalfModel given by --half; set half.init_weights for stage 1"
            )

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
        kwargs: dict[str, Any] = build_sections(data, sections)
        if "run_dir" in data:
            kwargs["run_dir"] = str(data["run_dir"])
        return cls(**kwargs)


def build_sections(data: dict[str, Any], sections: dict[str, type], what: str = "config") -> dict[str, Any]:
    """``{name: klass(**data[name])}`` for each section (dataclass), with clear errors for a section that
    is not a mapping and for unknown keys (shared by :class:`Config` and hrcam.casm's config)."""
    kwargs: dict[str, Any] = {}
    for name, klass in sections.items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{what} section {name!r} must be a mapping, got {values!r}")
        known = {f.name for f in dataclasses.fields(klass)}
        bad = set(values) - known
        if bad:
            raise ValueError(
                f"unknown key(s) {sorted(bad)} in {what} section {name!r}; known: {sorted(known)}"
            )
        kwargs[name] = klass(**values)
    return kwargs


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


def preset_path(name: str) -> Traversable:
    """The shipped preset ``name`` (one of :data:`PRESETS`) as a readable file inside the package.

    Returns an :mod:`importlib.resources` traversable (``.read_text()``, ``.open()``, ``.name``; a
    ``pathlib.Path`` for an ordinary install). Raises ValueError for an unknown name.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {name!r}")
    return resources.files("hrcam").joinpath("presets", f"{name}.yaml")


def _read_yaml(text: str, source: str) -> Config:
    data = yaml.safe_load(text)
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"config {source} must hold a YAML mapping, got {type(data).__name__}")
    return Config.from_dict(data)


def load_config(path_or_preset: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a preset or a YAML file (the defaults when None) and apply ``overrides``.

    ``path_or_preset``: a preset name from :data:`PRESETS` (``"demo"``, ``"synthetic"``,
    ``"tiny-imagenet"``; read from inside the package, whatever the working directory) or the path of a
    YAML file. ``overrides``: ``section.key=value`` strings, see :func:`apply_overrides`.
    Raises FileNotFoundError for a missing file path, ValueError for a bare name that is neither a preset
    nor a file (the message lists the presets).
    """
    if path_or_preset is None:
        config = Config()
    elif isinstance(path_or_preset, str) and path_or_preset in PRESETS:
        config = _read_yaml(
            preset_path(path_or_preset).read_text(encoding="utf-8"), f"preset {path_or_preset!r}"
        )
    elif not isinstance(path_or_preset, (str, Path)):
        raise TypeError(
            f"config must be a preset name or a file path (str or Path), got {type(path_or_preset).__name__}"
        )
    else:
        path = Path(path_or_preset)
        if not path.is_file():
            presets = ", ".join(PRESETS)
            if path.suffix or len(path.parts) > 1:
                raise FileNotFoundError(f"config file {str(path)!r} does not exist (presets: {presets})")
            raise ValueError(f"config {str(path)!r} is neither a preset ({presets}) nor an existing file")
        config = _read_yaml(path.read_text(encoding="utf-8"), f"file {str(path)!r}")
    return apply_overrides(config, overrides)
