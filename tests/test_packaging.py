"""Presets inside the package, a TensorFlow-free ``hrcam.config``, and the layout's scripts exist."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hrcam.config import PRESETS, Config, DenseNetFCNConfig, ModelConfig, load_config, preset_path

REPO = Path(__file__).resolve().parents[1]


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_presets_in_package_equal_opts():
    """opts/ is the user-facing copy of hrcam/presets/: same names, same bytes (edit both, or copy)."""
    shipped = {p.name: p.read_bytes() for p in (REPO / "hrcam" / "presets").glob("*.yaml")}
    user = {p.name: p.read_bytes() for p in (REPO / "opts").glob("*.yaml")}
    hrcam_presets = sorted(n for n in shipped if not n.startswith(("casm-", "explainer-")))  # own configs
    assert hrcam_presets == sorted(f"{name}.yaml" for name in PRESETS)
    assert sorted(user) == sorted(shipped)
    for name in shipped:
        assert user[name] == shipped[name], f"opts/{name} differs from hrcam/presets/{name}: copy one over"


def test_setup_ships_the_presets():
    assert '"presets/*.yaml"' in (REPO / "setup.py").read_text()


@pytest.mark.parametrize("name", PRESETS)
def test_load_config_by_preset_name_from_any_folder(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no opts/ here: the preset comes from inside the package
    assert preset_path(name).name == f"{name}.yaml"
    config = load_config(name, ["half.epochs=2"])
    assert isinstance(config, Config) and config.half.epochs == 2
    by_path = load_config(REPO / "opts" / f"{name}.yaml", ["half.epochs=2"])
    assert config == by_path


def test_load_config_errors_name_the_presets(tmp_path):
    with pytest.raises(ValueError, match="demo, synthetic, tiny-imagenet"):
        load_config("nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="preset must be one of"):
        preset_path("nope")
    with pytest.raises(TypeError, match="preset name or a file path"):
        load_config(3)
    own = tmp_path / "demo"  # a file path always reads the file; a bare preset name reads the preset
    own.write_text("half: {epochs: 7}\n")
    assert load_config(own).half.epochs == 7
    assert load_config("demo").half.epochs != 7


def test_model_config_derives_the_network_fields():
    net = {f.name for f in dataclasses.fields(DenseNetFCNConfig)}
    assert net <= {f.name for f in dataclasses.fields(ModelConfig)}
    config = ModelConfig(num_blocks=2, backbone=None).densenet_config()
    assert type(config) is DenseNetFCNConfig and config.num_blocks == 2


def _modules_after_import(modules: str) -> set[str]:
    code = f"import sys, {modules}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=_clean_env(), capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_import_numpy_side_without_tensorflow():
    """What worker processes and configuration need loads neither TensorFlow nor Keras."""
    loaded = _modules_after_import("hrcam, hrcam.config, hrcam.postprocessing, hrcam.evaluation.localisation")
    assert not {"tensorflow", "keras"} & loaded


def test_one_densenet_config_class():
    from hrcam.models import DenseNetFCNConfig as ModelsConfig

    assert ModelsConfig is DenseNetFCNConfig


_SCRIPT_REF = re.compile(r"(?<![\w/.-])((?:scripts|opts|\.ci|notebooks)/[\w./-]*\w)")


def _mentioned_paths() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    docs = [REPO / name for name in ("Makefile", "README.md", "BENCHMARKS.md", ".ci/run")]
    for path in docs + sorted(p for p in (REPO / "scripts").iterdir() if p.is_file()):
        for ref in _SCRIPT_REF.findall(path.read_text(encoding="utf-8")):
            found.setdefault(ref, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_script_path_mentioned_exists():
    mentioned = _mentioned_paths()
    assert "scripts/run_benchmarks.sh" in mentioned  # make bench
    missing = {ref: sorted(docs) for ref, docs in mentioned.items() if not (REPO / ref).exists()}
    assert not missing, f"paths mentioned but absent: {missing}"
    for doc in ("Makefile", "README.md", "BENCHMARKS.md"):
        assert "benchmarks/" not in (REPO / doc).read_text(), f"{doc} still names benchmarks/ (now scripts/)"


def test_scripts_parse():
    scripts = sorted(p for p in (REPO / "scripts").iterdir() if p.is_file())
    names = {p.name for p in scripts}
    assert {"train_tiny_imagenet.sh", "train_synthetic.sh", "export_and_serve.sh", "run_benchmarks.sh"} <= (
        names
    )
    for path in scripts:
        if path.suffix == ".sh":
            assert os.access(path, os.X_OK), f"{path.name} is not executable"
            subprocess.run(["bash", "-n", str(path)], check=True)
        elif path.suffix == ".py":
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
