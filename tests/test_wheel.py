"""A wheel of hrcam, installed (not editable) into a fresh virtual environment, runs `hrcam demo` from a
folder that is not the repository: what `pip install .` gives a new user (presets included)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.py", "pyproject.toml", "README.md", "hrcam")
# Fewer scenes than the demo preset's, so the two one-epoch stages take about a minute on 2 busy cores.
SMALL = ["--set", "data.train_size=320", "--set", "data.val_size=64", "--set", "data.test_size=64"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(
        subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo_elsewhere(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    # Build from a clean copy of the sources (no build/ or egg-info written into the repository).
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(src)],
        src,
        env,
    )
    (wheel,) = wheels.glob("hrcam-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {f"hrcam/presets/{p.name}" for p in (REPO / "hrcam" / "presets").glob("*.yaml")} <= names

    # A fresh venv that sees this interpreter's site-packages through a path line in a .pth file: the
    # dependencies (TensorFlow, Keras, ...) are found without copying, but the .pth files *inside* that
    # folder (the editable hrcam finder of a development install) are not processed.
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(target)
    python = target / ("Scripts" if os.name == "nt" else "bin") / "python"
    new_site = _site_packages(python)
    shared = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (new_site / "zz_hrcam_test_parent.pth").write_text("\n".join(sorted(shared)) + "\n")
    _run(
        [
            str(python),
            "-m",
            "pip",
            "--disable-pip-version-check",
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        tmp_path,
        env,
    )

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(
        [
            str(python),
            "-c",
            "import hrcam, hrcam.config as c; print(hrcam.__file__); "
            "print(c.load_config('demo').data.image_size)",
        ],
        work,
        env,
    ).split()
    assert Path(where[0]).resolve().is_relative_to(new_site.resolve()), f"hrcam imported from {where[0]}"
    assert where[1] == "64"

    hrcam = python.with_name("hrcam")
    assert hrcam.exists(), "the wheel installs no `hrcam` console script"
    # The command the issue names; SMALL only shrinks the synthetic data set.
    demo = [
        "demo",
        "--set",
        "half.epochs=1",
        "--set",
        "full.epochs=1",
        "--no-export",
        "--quiet",
        "--out",
        "out",
    ]
    out = _run([str(hrcam), *demo, *SMALL], work, env, timeout=900)
    assert "hrcam demo finished" in out
    assert (work / "out" / "run" / "metrics.json").is_file()
