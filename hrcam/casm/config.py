"""CASM configuration (TensorFlow-free): the classifier, the masker, the training objective and the
thinning strategy, read from YAML presets (``opts/casm-*.yaml``, the same files as ``hrcam/presets/``).

``reproduce`` (``F``, ``L``, ``FL``, ``L100``, ``L1000``) sets the thinning strategy of the original code
(:data:`REPRODUCE`: fixed classifier, hp, smf and the area weight lambda_r for the entropy and the
adversarial objective) over whatever the ``train`` section says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hrcam.config import DataConfig, ModelConfig, build_sections

__all__ = [
    "REPRODUCE",
    "CASM_PRESETS",
    "ClassifierConfig",
    "MaskerConfig",
    "CasmTrainConfig",
    "CasmConfig",
    "load_casm_config",
]

# mode -> (fixed_classifier, hp, smf, lambda_r entropy, lambda_r adversarial)   [casme:train_utils.py]
REPRODUCE: dict[str, tuple[bool, float, int, float, float]] = {
    "F": (True, 0.0, 10_000_000, 2.5, 9.0),
    "L": (False, 0.0, 10_000_000, 14.0, 18.0),
    "FL": (False, 0.5, 10_000_000, 7.5, 11.0),
    "L100": (False, 0.5, 100, 10.0, 17.0),
    "L1000": (False, 0.5, 1000, 10.0, 17.0),
}
CASM_PRESETS = ("casm-synthetic", "casm-tiny-imagenet")


def _positive(section: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{section}.{name} must be a positive number, got {value!r}")


@dataclass
class ClassifierConfig:
    """The classifier CASM trains (and explains): ``kind`` ``half`` (hrcam's DenseNet-FCN, sizes in
    ``densenet``) or ``resnet`` (:func:`hrcam.casm.resnet.build_resnet`, sizes in ``resnet``); ``path``: a
    saved ``.keras`` classifier to start from instead of random weights (any Keras model; its stage layers
    must then be named in ``masker.features``)."""

    kind: str = "half"
    path: str | None = None
    densenet: dict = field(default_factory=dict)
    resnet: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("half", "resnet"):
            raise ValueError(f"classifier.kind must be 'half' or 'resnet', got {self.kind!r}")
        ModelConfig(**self.densenet)  # validates the sizes early (unknown keys raise TypeError)

    def densenet_config(self):
        return ModelConfig(**self.densenet).densenet_config()


@dataclass
class MaskerConfig:
    """The decoder: ``features`` the classifier's stage layers (shallow to deep; None: the preset of the
    classifier kind), ``logits_layer`` its pre-softmax layer (None: the preset), ``channels`` per stage,
    ``passthrough_first`` (the original feeds its first stage, the 64-channel max-pool output, unchanged),
    ``upsample`` to the input (``nearest`` as the original, or ``bilinear``) and ``fill``, the pixel value
    a masked pixel takes (0.5 is 0 after the [-1, 1] preprocessing of hrcam's models: the original masks in
    normalised space)."""

    features: list[str] | None = None
    logits_layer: str | None = None
    channels: int = 64
    passthrough_first: bool = False
    upsample: str = "nearest"
    fill: float = 0.5

    def __post_init__(self) -> None:
        if self.upsample not in ("nearest", "bilinear"):
            raise ValueError(f"masker.upsample must be 'nearest' or 'bilinear', got {self.upsample!r}")
        if not isinstance(self.channels, int) or self.channels < 1:
            raise ValueError(f"masker.channels must be a positive int, got {self.channels!r}")
        if not 0 <= float(self.fill) <= 1:
            raise ValueError(f"masker.fill must be a pixel value in [0, 1], got {self.fill!r}")
        if self.features is not None and (
            not isinstance(self.features, list) or not all(isinstance(f, str) for f in self.features)
        ):
            raise ValueError(f"masker.features must be a list of layer names, got {self.features!r}")


@dataclass
class CasmTrainConfig:
    """The objective and its optimisation ([casme:train.py] defaults, scaled down in the presets).

    ``strategy`` / ``jit_compile``: as :class:`hrcam.config.TrainConfig` (``data.batch_size`` is the global
    batch, split over the replicas)."""

    epochs: int = 10
    steps_per_epoch: int | None = None
    fixed_classifier: bool = False
    hp: float = 0.5
    smf: int = 1000
    f_size: int = 30
    lambda_r: float = 10.0
    adversarial: bool = False
    classifier_lr: float = 1e-3
    masker_lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clip_norm: float = 10.0
    lr_decay_every: int = 20
    lr_decay: float = 0.1
    checkpoint_every: int = 50
    example_images: int = 4
    seed: int = 0
    strategy: str = "default"  # tf.distribute: default, mirrored, multiworker, tpu (hrcam.training.strategy)
    mixed_precision: bool = False  # refused: the CASM step has no loss scaling
    jit_compile: bool = False  # XLA for the train step (slower on CPU)

    def __post_init__(self) -> None:
        from hrcam.training.strategy import check_strategy_name

        s = "train"
        check_strategy_name(self.strategy)
        if self.mixed_precision:
            raise ValueError(
                f"{s}.mixed_precision is not supported by the CASM trainer (its two optimizers apply "
                "their gradients without loss scaling); train in float32"
            )
        if isinstance(self.hp, bool) or not isinstance(self.hp, (int, float)) or not 0 <= self.hp <= 1:
            raise ValueError(
                f"{s}.hp (probability of using a pool snapshot) must be in [0, 1], got {self.hp!r}"
            )
        for name in ("epochs", "smf", "f_size", "lr_decay_every", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{s}.{name} must be a positive int, got {v!r}")
        for name in ("classifier_lr", "masker_lr", "clip_norm", "lr_decay"):
            _positive(s, name, getattr(self, name))
        if self.lambda_r < 0 or self.weight_decay < 0:
            raise ValueError(f"{s}.lambda_r and {s}.weight_decay must be >= 0")
        if self.steps_per_epoch is not None and int(self.steps_per_epoch) < 1:
            raise ValueError(f"{s}.steps_per_epoch must be >= 1 or null, got {self.steps_per_epoch!r}")


@dataclass
class CasmConfig:
    """A whole CASM experiment. ``reproduce`` (a key of :data:`REPRODUCE` or None) is applied on load."""

    data: DataConfig = field(default_factory=DataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    masker: MaskerConfig = field(default_factory=MaskerConfig)
    train: CasmTrainConfig = field(default_factory=CasmTrainConfig)
    reproduce: str | None = None
    run_dir: str = "runs/casm"

    def __post_init__(self) -> None:
        if self.reproduce is not None:
            if self.reproduce not in REPRODUCE:
                raise ValueError(
                    f"reproduce (the CASM mode) must be one of {list(REPRODUCE)} or null, "
                    f"got {self.reproduce!r}"
                )
            fixed, hp, smf, lam_e, lam_a = REPRODUCE[self.reproduce]
            t = self.train
            t.fixed_classifier, t.hp, t.smf = fixed, hp, smf
            t.lambda_r = lam_a if t.adversarial else lam_e

    @property
    def mode(self) -> str:
        return self.reproduce or "custom"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CasmConfig:
        data = dict(data or {})
        sections = {
            "data": DataConfig,
            "classifier": ClassifierConfig,
            "masker": MaskerConfig,
            "train": CasmTrainConfig,
        }
        unknown = set(data) - set(sections) - {"run_dir", "reproduce"}
        if unknown:
            raise ValueError(
                f"unknown CASM config section(s) {sorted(unknown)}; expected {sorted(sections)}, "
                "reproduce and run_dir"
            )
        kwargs = build_sections(data, sections, "CASM config")
        return cls(**kwargs, reproduce=data.get("reproduce"), run_dir=str(data.get("run_dir", "runs/casm")))


def _set(data: dict, item: str) -> None:
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like section.key=value (e.g. train.epochs=3)")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    target = data
    for p in parts[:-1]:
        target = target.setdefault(p, {})
        if not isinstance(target, dict):
            raise ValueError(f"override {item!r}: {p!r} is not a config section")
    target[parts[-1]] = yaml.safe_load(value)


def load_casm_config(
    path_or_preset: str | Path | None = None,
    overrides: list[str] | None = None,
    reproduce: str | None = None,
) -> CasmConfig:
    """Read a CASM preset (:data:`CASM_PRESETS`) or YAML file, apply ``section.key=value`` overrides and
    the ``reproduce`` mode (which wins over the file's). Raises FileNotFoundError / ValueError."""
    if path_or_preset is None:
        data: dict = {}
    else:
        name = str(path_or_preset)
        if name in CASM_PRESETS:
            text = resources.files("hrcam").joinpath("presets", f"{name}.yaml").read_text(encoding="utf-8")
        else:
            path = Path(name)
            if not path.is_file():
                raise FileNotFoundError(
                    f"CASM config {name!r} is neither a preset ({', '.join(CASM_PRESETS)}) nor a file"
                )
            text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"CASM config {name!r} must hold a YAML mapping, got {type(data).__name__}")
    for item in overrides or []:
        _set(data, item)
    if reproduce is not None:
        data["reproduce"] = reproduce
    return CasmConfig.from_dict(data)
