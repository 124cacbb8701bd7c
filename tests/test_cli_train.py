"""End-to-end runs of the training CLI on tiny synthetic data, resume after a kill, and clear errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hrcam.cli import main

TINY = {
    "data": {
        "source": "synthetic",
        "image_size": 32,
        "num_classes": 3,
        "train_size": 96,
        "val_size": 32,
        "test_size": 32,
        "batch_size": 16,
    },
    "model": {
        "num_blocks": 2,
        "layers_per_block": 2,
        "growth_rate": 4,
        "initial_filters": 8,
        "cam_channels": 6,
    },
    "half": {"epochs": 2, "checkpoint_every": 2},
    "full": {"epochs": 1},
}


def _write_config(tmp_path: Path, **changes) -> Path:
    config = json.loads(json.dumps(TINY))
    for section, values in changes.items():
        config[section].update(values)
    config["run_dir"] = str(tmp_path / "run")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_train_half_then_full_then_evaluate(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["train-half", "--config", str(cfg), "--quiet", "--json"]) == 0
    half = json.loads(capsys.readouterr().out)
    run = tmp_path / "run"
    for rel in [
        "config.yaml",
        "half/best.keras",
        "half/last.keras",
        "half/history.json",
        "metrics.json",
        "plots/confusion_half.png",
        "plots/history_half.png",
    ]:
        assert (run / rel).is_file(), rel
    assert list((run / "logs" / "half").rglob("events.out.tfevents.*")), "no TensorBoard logs"
    assert half["epochs_trained"] == 2

    assert main(["train-full", "--config", str(cfg), "--quiet", "--objective", "align", "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["objective"] == "align"
    assert full["top1_accuracy"] == half["top1_accuracy"]  # the classifier is frozen
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"half", "full_align"}
    for section in ("half", "full_align"):
        m = metrics[section]
        # micro-averaged P/R/F1 equal accuracy on single-label data (not the original's formula)
        assert m["micro_f1"] == pytest.approx(m["top1_accuracy"])
        assert np.asarray(m["confusion_matrix"]).sum() == 32

    # evaluate the saved model on a folder dataset written from synthetic scenes
    from hrcam.data.synthetic import make_scenes, write_folder

    scenes = make_scenes(12, image_size=32, num_classes=3, seed=5)
    write_folder(scenes, tmp_path / "folder", split="val")
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "classification",
                "--model",
                str(run / "full_align" / "best.keras"),
                "--data",
                str(tmp_path / "folder"),
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert (
        result["num_examples"] == 12
        and (out / "confusion.png").is_file()
        and (out / "metrics.json").is_file()
    )


def _run_cli(args, stderr=subprocess.STDOUT, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "hrcam.cli", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.slow
def test_training_resumes_after_kill(tmp_path):
    cfg = _write_config(tmp_path, data={"train_size": 480}, half={"epochs": 3, "checkpoint_every": 3})
    state = tmp_path / "run" / "half" / "state" / "state.json"
    proc = _run_cli(["train-half", "--config", str(cfg), "--quiet"])
    deadline = time.time() + 240
    # wait until the run is in its second epoch and has saved a mid-epoch state, then kill it hard
    while time.time() < deadline and proc.poll() is None:
        if state.is_file():
            try:
                saved = json.loads(state.read_text())
            except json.JSONDecodeError:  # never happens with atomic writes; keep polling if it did
                pytest.fail("state.json was read half-written")
            if saved["epoch"] >= 1 and saved["batch"] is not None:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be interrupted: " + proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())
    assert killed_at["epoch"] >= 1
    assert len(killed_at["history"]["loss"]) == killed_at["epoch"]

    proc = _run_cli(["train-half", "--config", str(cfg), "--quiet", "--json"], stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert f"resuming at epoch {killed_at['epoch'] + 1}/3" in err
    assert json.loads(out)["epochs_trained"] == 3  # --json: stdout is the summary alone
    history = json.loads((tmp_path / "run" / "half" / "history.json").read_text())
    assert len(history["loss"]) == 3  # the epochs before the kill are kept, not retrained
    assert history["loss"][: killed_at["epoch"]] == killed_at["history"]["loss"]


def test_bad_config_and_data_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("half: {epochz: 3}\n")
    assert main(["train-half", "--config", str(bad)]) == 2
    assert "`half.epochz`: unknown key" in capsys.readouterr().err
    assert main(["train-half", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train-half", "--set", "half.epochs"]) == 2
    assert "section.key=value" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "train" / "cats").mkdir(parents=True)
    assert main(["train-half", "--data", str(empty), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "cats" in err or "no images" in err
    corrupt = tmp_path / "corrupt"
    (corrupt / "train" / "a").mkdir(parents=True)
    (corrupt / "train" / "a" / "x.jpg").write_bytes(b"not a jpeg at all")
    (corrupt / "val" / "a").mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(corrupt / "val" / "a" / "ok.png")
    assert main(["train-half", "--data", str(corrupt), "--run-dir", str(tmp_path / "r2")]) == 2
    assert "x.jpg" in capsys.readouterr().err


def test_commands_are_thin(tmp_path, monkeypatch):
    """The workflows live in hrcam.training; a command imports no private name of another command."""
    import ast

    from hrcam.demo import demo_config, run_demo  # noqa: F401
    from hrcam.highres.workflow import full_stage_name, train_stage  # noqa: F401

    commands = Path(__file__).resolve().parents[1] / "hrcam" / "commands"
    for path in commands.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hrcam.commands."):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
    assert full_stage_name("reconstruct") == "full" and full_stage_name("align") == "full_align"
    monkeypatch.chdir(tmp_path)  # the demo preset is found from any folder
    config = demo_config(None, ["half.epochs=1"])
    assert config.half.epochs == 1


def test_training_is_seeded_by_data_seed(tmp_path):
    """The same config trains the same HalfModel (weights init, shuffling, augmentation follow
    `data.seed`); another seed gives another model."""
    from hrcam.config import load_config
    from hrcam.highres.workflow import train_stage

    def weights(name: str, seed: int) -> list[np.ndarray]:
        (tmp_path / name).mkdir()
        cfg = load_config(_write_config(tmp_path / name, half={"epochs": 1}, data={"seed": seed}))
        return [np.asarray(w) for w in train_stage(cfg, "half", verbose=0).model.get_weights()]

    first, again, other = weights("a", 3), weights("b", 3), weights("c", 4)
    assert len(first) == len(again) == len(other)
    for w1, w2 in zip(first, again):
        np.testing.assert_allclose(w1, w2, rtol=1e-3, atol=1e-4)
    assert max(float(np.abs(w1 - w3).max()) for w1, w3 in zip(first, other)) > 1e-2


def test_half_init_weights_starts_from_a_model_of_another_input_size(tmp_path):
    """`half.init_weights` starts stage 1 from a HalfModel trained at another size (fine-tuning at a
    higher resolution); a model of another architecture is refused by name."""
    from hrcam.config import load_config
    from hrcam.highres.workflow import train_stage

    (tmp_path / "a").mkdir()
    small = train_stage(load_config(_write_config(tmp_path / "a", half={"epochs": 1})), "half", verbose=0)
    source = small.summary["model"]
    (tmp_path / "b").mkdir()
    cfg = load_config(
        _write_config(
            tmp_path / "b",
            data={"image_size": 48},
            half={"epochs": 1, "init_weights": source, "learning_rate": 1e-12},
        )
    )
    big = train_stage(cfg, "half", verbose=0).model
    assert tuple(big.input_shape)[-3:] == (48, 48, 3)
    for w_small, w_big in zip(small.model.trainable_weights, big.trainable_weights):
        np.testing.assert_allclose(np.asarray(w_small), np.asarray(w_big), atol=1e-6)
    (tmp_path / "c").mkdir()
    other = load_config(
        _write_config(tmp_path / "c", model={"growth_rate": 6}, half={"epochs": 1, "init_weights": source})
    )
    with pytest.raises(ValueError, match="half.init_weights.*other shapes"):
        train_stage(other, "half", verbose=0)
    (tmp_path / "d").mkdir()
    missing = load_config(
        _write_config(tmp_path / "d", half={"epochs": 1, "init_weights": str(tmp_path / "no.keras")})
    )
    with pytest.raises(FileNotFoundError, match="half.init_weights.*no.keras"):
        train_stage(missing, "half", verbose=0)
    # a finished (or interrupted) run keeps its own weights: the source is not read again
    moved = tmp_path / "moved.keras"
    Path(source).rename(moved)
    assert train_stage(cfg, "half", verbose=0).summary["epochs_trained"] == 1
    with pytest.raises(ValueError, match="half.init_weights|init_weights must be"):
        load_config(_write_config(tmp_path / "d", half={"init_weights": 5}))
    with pytest.raises(ValueError, match="`full.init_weights`: expected null"):  # refused when loaded
        load_config(_write_config(tmp_path / "d", full={"init_weights": str(moved)}))
