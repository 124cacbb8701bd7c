"""The one experiment-config loader (hrcam.config) behind the HR-CAM, CASM and Explainer trainers: the same
override syntax, validation and error wording for every family, all before TensorFlow is imported and
before anything is written."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrcam.casm.config import CASM_PRESETS, load_casm_config
from hrcam.config import PRESETS, STRATEGIES, ConfigError, TrainConfig, load_config
from hrcam.explainer.config import EXPLAINER_PRESETS, load_explainer_config

REPO = Path(__file__).resolve().parents[1]

LOADERS = {"hrcam": load_config, "casm": load_casm_config, "explainer": load_explainer_config}
PRESET = {"hrcam": "demo", "casm": "casm-synthetic", "explainer": "explainer-synthetic"}
ALL_PRESETS = [("hrcam", p) for p in PRESETS] + [("casm", p) for p in CASM_PRESETS]
ALL_PRESETS += [("explainer", p) for p in EXPLAINER_PRESETS]

# (family, override, the key the message names, the value as the message shows it, what it expects)
BAD_OVERRIDES = [
    # unknown sections and keys: never created, whatever the family
    ("hrcam", "nonsense.x=1", "nonsense.x", "1", "unknown config section"),
    ("casm", "nonsense.x=1", "nonsense.x", "1", "unknown config section"),
    ("explainer", "losses.tv=1", "losses.tv", "1", "unknown config section"),
    ("hrcam", "half.epoch=3", "half.epoch", "3", "unknown key in config section `half`"),
    ("casm", "masker.chanels=3", "masker.chanels", "3", "unknown key in config section `masker`"),
    ("explainer", "loss.lamda=1", "loss.lamda", "1", "unknown key in config section `loss`"),
    ("casm", "classifier.densenet.blocks=3", "classifier.densenet.blocks", "3", "unknown key"),
    ("hrcam", "run_dir.x=1", "run_dir.x", "1", "is a value, not a section"),
    ("hrcam", "half.epochs.x=1", "half.epochs.x", "1", "is not a mapping"),
    ("hrcam", "half=3", "half", "3", "expected a mapping of the `half` section's keys"),
    # ints
    ("hrcam", "half.epochs=abc", "half.epochs", "'abc'", "expected a positive int"),
    ("hrcam", "half.epochs=2.7", "half.epochs", "2.7", "expected a positive int"),
    ("hrcam", "data.batch_size=abc", "data.batch_size", "'abc'", "expected a positive int"),
    ("hrcam", "half.steps_per_epoch=0", "half.steps_per_epoch", "0", "expected a positive int or null"),
    ("casm", "train.f_size=abc", "train.f_size", "'abc'", "expected a positive int"),
    ("casm", "train.epochs=2.5", "train.epochs", "2.5", "expected a positive int"),
    ("explainer", "train.epochs=abc", "train.epochs", "'abc'", "expected a positive int"),
    ("explainer", "data.image_size=2.5", "data.image_size", "2.5", "expected a positive int"),
    ("explainer", "train.epochs=true", "train.epochs", "True", "expected a positive int"),
    # floats
    ("hrcam", "half.learning_rate=abc", "half.learning_rate", "'abc'", "expected a positive number"),
    ("hrcam", "half.learning_rate=.nan", "half.learning_rate", "nan", "expected a positive number"),
    ("casm", "train.masker_lr=abc", "train.masker_lr", "'abc'", "expected a positive number"),
    ("explainer", "loss.tv=abc", "loss.tv", "'abc'", "expected a number >= 0"),
    ("explainer", "train.learning_rate=[1]", "train.learning_rate", "[1]", "expected a positive number"),
    # bools
    ("hrcam", "data.augment=1", "data.augment", "1", "expected true or false"),
    ("casm", "train.adversarial=2", "train.adversarial", "2", "expected true or false"),
    (
        "explainer",
        "classifier.multi_label=maybe",
        "classifier.multi_label",
        "'maybe'",
        "expected true or false",
    ),
    # strings, lists, tuples
    ("hrcam", "data.source=true", "data.source", "True", "expected one of 'synthetic', 'folder', 'cub'"),
    ("hrcam", "data.source=voc2007", "data.source", "'voc2007'", "the Explainer's: train-explainer"),
    ("explainer", "data.source=voc2007", "data.root", "None", "expected a folder path"),
    ("hrcam", "run_dir=[a]", "run_dir", "['a']", "expected a string"),
    ("hrcam", "half.init_weights=7.keras: x", "half.init_weights", "{'7.keras': 'x'}", "a .keras path"),
    ("casm", "masker.upsample=3", "masker.upsample", "3", "expected 'nearest' or 'bilinear'"),
    ("casm", "masker.features=[1, 2]", "masker.features", "[1, 2]", "expected a list of strings or null"),
    ("explainer", "train.variant=gradcam", "train.variant", "'gradcam'", "expected 'explainer' or 'rtsal'"),
    ("explainer", "data.objects_per_image=[1]", "data.objects_per_image", "[1]", "a list of 2 ints"),
    ("explainer", "explainer.rates=[]", "explainer.rates", "[]", "a non-empty list of positive ints"),
    # out of range
    ("hrcam", "data.val_fraction=1.5", "data.val_fraction", "1.5", "expected a number in (0, 1)"),
    ("hrcam", "model.dropout=1", "model.dropout", "1", "expected a number in [0, 1)"),
    (
        "hrcam",
        "half.optimizer=adamw",
        "half.optimizer",
        "'adamw'",
        "expected one of 'adadelta', 'adam', 'sgd'",
    ),
    ("hrcam", "full.objective=x", "full.objective", "'x'", "expected one of 'reconstruct', 'align'"),
    ("hrcam", "full.init_weights=a.keras", "full.init_weights", "'a.keras'", "expected null"),
    ("hrcam", "data.source=folder", "data.root", "None", "expected a folder path"),
    ("casm", "train.hp=1.5", "train.hp", "1.5", "expected a number in [0, 1]"),
    ("casm", "masker.fill=-1", "masker.fill", "-1", "expected a number in [0, 1]"),
    ("casm", "classifier.densenet.num_blocks=0", "classifier.densenet.num_blocks", "0", "a positive int"),
    ("casm", "reproduce=L10", "reproduce", "'L10'", "expected one of 'F', 'L', 'FL'"),
    ("casm", "train.mixed_precision=true", "train.mixed_precision", "True", "expected false"),
    ("explainer", "loss.min_area=1.5", "loss.min_area", "1.5", "expected a number in [0, 1]"),
    ("explainer", "loss.max_area=0.01", "loss.max_area", "0.01", "expected a number >= min_area"),
    ("explainer", "explainer.decoder_stride=3", "explainer.decoder_stride", "3", "a power of 2"),
    ("explainer", "data.objects_per_image=[2, 9]", "data.objects_per_image", "[2, 9]", "<= num_classes"),
    # strategy names: one list, one wording
    ("hrcam", "half.strategy=horovod", "half.strategy", "'horovod'", "expected one of 'default', 'mirrored'"),
    (
        "casm",
        "train.strategy=horovod",
        "train.strategy",
        "'horovod'",
        "expected one of 'default', 'mirrored'",
    ),
    ("explainer", "train.strategy=nccl", "train.strategy", "'nccl'", "expected one of 'default', 'mirrored'"),
]


@pytest.mark.parametrize("family, override, key, shown, expected", BAD_OVERRIDES)
def test_bad_overrides_name_the_key_the_value_and_what_was_expected(family, override, key, shown, expected):
    with pytest.raises(ValueError) as info:
        LOADERS[family](PRESET[family], [override])
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert message.startswith(f"`{key}`"), message
    assert f"got {shown}" in message or f"(got {shown})" in message, message
    assert expected in message, message


# (family, file text, line of the error, words of the message)
BAD_FILES = [
    ("hrcam", "half:\n  epochs: 3\n bad: [\n", 3, "invalid YAML"),
    ("casm", "train:\n  epochs: 3\n  f_size: [1, 2\nmasker: {}\n", 4, "invalid YAML"),
    ("explainer", "loss:\n  tv: 1\n\ttotal: 2\n", 3, "invalid YAML"),
    ("hrcam", "data: {batch_size: 4}\nhalf: {epochs: 2}\nhalf: {epochs: @}\n", 3, "invalid YAML"),
]


@pytest.mark.parametrize("family, text, line, words", BAD_FILES)
def test_bad_yaml_names_the_file_and_line(family, text, line, words, tmp_path):
    path = tmp_path / f"{family}.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=words) as info:
        LOADERS[family](path)
    assert str(path) in str(info.value) and f"line {line}," in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "family, text, message",
    [
        ("hrcam", "half: {epochs: abc}\n", "`half.epochs`: expected a positive int, got 'abc'"),
        ("hrcam", "halves: {epochs: 3}\n", "`halves.epochs`: unknown config section or key `halves`"),
        ("casm", "train: {hp: 2}\nreproduce: null\n", "`train.hp`: expected a number in [0, 1], got 2"),
        ("explainer", "data: {batch_size: 2.5}\n", "`data.batch_size`: expected a positive int, got 2.5"),
        ("explainer", "- a list\n", "must hold a YAML mapping of sections, got list"),
        ("casm", "train: 5\n", "`train`: expected a mapping of the `train` section's keys, got 5"),
    ],
)
def test_bad_values_in_files_read_as_overrides_do(family, text, message, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        LOADERS[family](path)
    assert message in str(info.value)


@pytest.mark.parametrize("family", sorted(LOADERS))
@pytest.mark.parametrize("item", ["half.epochs", "=3", ".x=1", "data..seed=1"])
def test_override_syntax_is_one_for_every_family(family, item):
    with pytest.raises(ValueError, match="must look like section.key=value"):
        LOADERS[family](None, [item])


@pytest.mark.parametrize("family", sorted(LOADERS))
def test_override_values_are_yaml_scalars(family, tmp_path):
    section = {"hrcam": "half", "casm": "train", "explainer": "train"}[family]
    cfg = LOADERS[family](
        PRESET[family], [f"{section}.epochs=3", f"{section}.strategy=mirrored", f"run_dir={tmp_path}"]
    )
    train = getattr(cfg, section)
    assert (train.epochs, train.strategy, cfg.run_dir) == (3, "mirrored", str(tmp_path))
    with pytest.raises(ValueError, match="override 'data.seed=\\[1'.*invalid YAML"):
        LOADERS[family](None, ["data.seed=[1"])


def test_values_are_normalised_only_where_lossless():
    cfg = load_config(None, ["half.learning_rate=1", "full.learning_rate=1e-4", "run_dir=2024", "data.root="])
    assert cfg.half.learning_rate == 1.0 and type(cfg.half.learning_rate) is float
    assert cfg.full.learning_rate == 1e-4  # YAML 1.1 reads 1e-4 as a string; a float key takes it
    assert cfg.run_dir == "2024" and cfg.data.root is None
    ex = load_explainer_config(None, ["data.objects_per_image=[1, 2]", "explainer.rates=[1, 2]"])
    assert ex.data.objects_per_image == (1, 2) and ex.explainer.rates == (1, 2)
    assert load_casm_config(None, ["classifier.densenet.num_blocks=2"]).classifier.densenet == {
        "num_blocks": 2
    }
    folder = ["data.source=folder", "data.root=x", "data.num_classes=2"]  # objects_per_image: scenes only
    assert load_explainer_config("explainer-synthetic", folder).data.objects_per_image == (1, 3)


def test_sections_check_themselves_when_built_directly():
    with pytest.raises(ConfigError, match="^`epochs`: expected a positive int, got 0$"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="^`strategy`: expected one of 'default'"):
        TrainConfig(strategy="horovod")
    from hrcam.training.strategy import check_strategy_name

    with pytest.raises(ConfigError, match="^`strategy`: expected one of"):
        check_strategy_name("horovod")


@pytest.mark.parametrize("family, name", ALL_PRESETS)
def test_every_preset_loads_by_name_and_by_opts_path_and_round_trips(family, name):
    by_name = LOADERS[family](name)
    assert by_name == LOADERS[family](REPO / "opts" / f"{name}.yaml")
    assert type(by_name).from_dict(by_name.to_dict()) == by_name


def test_a_missing_section_starts_from_the_schema_default(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("half: {epochs: 2}\nfull: {objective: align}\n")
    cfg = load_config(path)
    assert cfg.full.epochs == load_config(None).full.epochs == 20
    assert load_config(None, ["full.objective=align"]).full.epochs == 20


def test_strategy_names_come_from_one_place():
    import argparse

    import hrcam.training.strategy as strategy
    from hrcam.commands import train, train_casm, train_explainer

    assert strategy.STRATEGIES is STRATEGIES
    for module, name in (
        (train, "train-half"),
        (train_casm, "train-casm"),
        (train_explainer, "train-explainer"),
    ):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser, name)
        assert "{" + ",".join(STRATEGIES) + "}" in parser.format_help()
        assert all(parser.parse_args(["--strategy", s]).strategy == s for s in STRATEGIES)


def _hrcam_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hrcam"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hrcam")}
    return found


def test_the_config_layer_imports_no_family_and_families_import_only_the_config_layer():
    for path in (REPO / "hrcam" / "config").glob("*.py"):
        outside = {m for m in _hrcam_imports(path) if not m.startswith("hrcam.config")}
        assert not outside, f"{path.name} imports {outside}"
    for family in ("casm", "explainer"):
        imports = _hrcam_imports(REPO / "hrcam" / family / "config.py")
        assert imports and all(m.startswith("hrcam.config") for m in imports), imports


_SUBPROCESS = r"""
import json, os, sys
from hrcam.config import load_config
from hrcam.casm.config import load_casm_config
from hrcam.explainer.config import load_explainer_config
from hrcam.cli import main

run = os.path.join(os.getcwd(), "run")
loaded = [
    load_config("demo", [f"run_dir={run}"]).run_dir,
    load_casm_config("casm-synthetic", [f"run_dir={run}"]).run_dir,
    load_explainer_config("explainer-synthetic", [f"run_dir={run}"]).run_dir,
]
errors = []
for loader, override in (
    (load_config, "half.epochs=2.7"),
    (load_casm_config, "train.hp=abc"),
    (load_explainer_config, "loss.tv=abc"),
):
    try:
        loader(None, [override, f"run_dir={run}"])
    except ValueError as e:
        errors.append(str(e))
codes = [
    main(["train-half", "--set", "half.learning_rate=abc", "--run-dir", run]),
    main(["train-full", "--set", "full.epochs=2.7", "--run-dir", run]),
    main(["train-casm", "--config", "casm-synthetic", "--set", "train.epochs=abc", "--run-dir", run]),
    main(["train-explainer", "--set", "train.learning_rate=abc", "--run-dir", run]),
    main(["train-explainer", "--set", "loss.lamda=1", "--run-dir", run]),
]
print(json.dumps({
    "loaded": loaded, "errors": errors, "codes": codes,
    "tf": sorted(m for m in ("tensorflow", "keras") if m in sys.modules),
    "files": sorted(os.listdir(os.getcwd())),
}))
"""


def test_loading_imports_no_tensorflow_and_writes_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tf"] == [], "loading a config imported TensorFlow / Keras"
    assert result["files"] == [], f"loading a config wrote {result['files']}"
    assert result["codes"] == [2] * 5
    assert result["loaded"] == [str(tmp_path / "run")] * 3
    assert [e.split(":")[0] for e in result["errors"]] == ["`half.epochs`", "`train.hp`", "`loss.tv`"]
    for key in (
        "`half.learning_rate`: expected a positive number, got 'abc'",
        "`full.epochs`",
        "`loss.lamda`",
    ):
        assert key in out.stderr
    assert "Traceback" not in out.stderr


def test_sections_are_dataclasses_with_defaults_for_every_field():
    """Every section can be built from defaults alone, so a missing section or key is never an error."""
    for cls in {type(LOADERS[f](None)) for f in LOADERS}:
        for f in dataclasses.fields(cls):
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
