"""CASM configuration (TensorFlow-free): the classifier, the masker, the training objective and the
thinning strategy, read from YAML presets (``opts/casm-*.yaml``, the same files as ``hrcam/presets/``).

``reproduce`` (``F``, ``L``, ``FL``, ``L100``, ``L1000``) sets the thinning strategy of the original code
(:data:`REPRODUCE`: fixed classifier, hp, smf and the area weight lambda_r for the entropy and the
adversarial objective) over whatever the ``train`` section says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hrcam.config import DataConfig, ModelConfig, load_experiment
from hrcam.config.loader import build_experiment, build_section
from hrcam.config.schema import ConfigError, Section, at_least, between, one_of, positive
from hrcam.config.sections import AcceleratedTrainerSection, MapSummariesConfig

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


@dataclass
class ClassifierConfig(Section):
    """The classifier CASM trains (and explains): ``kind`` ``half`` (hrcam's DenseNet-FCN, sizes in
    ``densenet``, the keys of :class:`hrcam.config.ModelConfig`) or ``resnet``
    (:func:`hrcam.casm.resnet.build_resnet`, sizes in ``resnet``); ``path``: a saved ``.keras`` classifier to
    start from instead of random weights (any Keras model; its stage layers must then be named in
    ``masker.features``), or a torchvision ResNet state dict (``.pth`` with torch, ``.npz`` without; with
    ``kind: resnet``), the original's starting point (:mod:`hrcam.casm.torch_import`)."""

    kind: str = "half"
    path: str | None = None
    densenet: dict = field(default_factory=dict)
    resnet: dict = field(default_factory=dict)

    RULES = {"kind": one_of("half", "resnet")}

    def check(self) -> None:
        self.densenet_config()  # validates the sizes early (`densenet.KEY` in the errors)

    def densenet_config(self):
        return build_section(ModelConfig, self.densenet, "densenet").densenet_config()


@dataclass
class MaskerConfig(Section):
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

    RULES = {"channels": positive(), "upsample": one_of("nearest", "bilinear"), "fill": between(0, 1)}


@dataclass
class CasmTrainConfig(AcceleratedTrainerSection):
    """The objective and its optimisation ([casme:train.py] defaults, scaled down in the presets).

    ``strategy`` / ``jit_compile``: as :class:`hrcam.config.TrainConfig` (``data.batch_size`` is the global
    batch, split over the replicas); ``hp``: the probability of using a pool snapshot."""

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
    example_images: int = 4
    seed: int = 0

    RULES = AcceleratedTrainerSection.RULES | {
        **{k: positive() for k in ("smf", "f_size", "lr_decay_every", "classifier_lr", "masker_lr")},
        **{k: positive() for k in ("clip_norm", "lr_decay")},
        **{k: at_least(0) for k in ("lambda_r", "weight_decay", "momentum", "example_images", "seed")},
        "hp": between(0, 1),
    }

    def check(self) -> None:
        if self.mixed_precision:
            raise ConfigError.expected(
                "mixed_precision",
                self.mixed_precision,
                "false",
                "not supported by the CASM trainer (its two optimizers apply their gradients without loss "
                "scaling); train in float32",
            )


@dataclass
class CasmConfig(Section):
    """A whole CASM experiment. ``reproduce`` (a key of :data:`REPRODUCE` or None) is applied on load."""

    data: DataConfig = field(default_factory=DataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    masker: MaskerConfig = field(default_factory=MaskerConfig)
    train: CasmTrainConfig = field(default_factory=CasmTrainConfig)
    summaries: MapSummariesConfig = field(default_factory=MapSummariesConfig)
    reproduce: str | None = None
    run_dir: str = "runs/casm"

    NAME = "CASM"
    PRESETS = CASM_PRESETS
    RULES = {"reproduce": one_of(*REPRODUCE)}

    def check(self) -> None:
        if self.reproduce is not None:
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
        """A CasmConfig from a nested dict (a loaded YAML file), checked as :func:`load_casm_config` does."""
        return build_experiment(cls, data, "CASM config")


def load_casm_config(
    path_or_preset: str | Path | None = None,
    overrides: list[str] | None = None,
    reproduce: str | None = None,
) -> CasmConfig:
    """Read a CASM preset (:data:`CASM_PRESETS`) or YAML file, apply ``section.key=value`` overrides and
    the ``reproduce`` mode (which wins over the file's), through the one loader
    (:func:`hrcam.config.load_experiment`). Raises FileNotFoundError / ValueError (naming the key, the
    value and what was expected)."""
    extra = [] if reproduce is None else [f"reproduce={reproduce}"]
    return load_experiment(CasmConfig, path_or_preset, list(overrides or []) + extra)
