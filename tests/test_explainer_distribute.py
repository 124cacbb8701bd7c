"""The Explainer trainer under tf.distribute: MirroredStrategy over 2 logical CPU devices trains a few steps
(SGD) and ends with the weights of a one-device run on the same global batches (a subprocess:
tests/data/explainer_distributed_worker.py, since logical devices must be set before TensorFlow starts)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "data" / "explainer_distributed_worker.py"


@pytest.mark.slow
def test_explainer_mirrored_two_cpus_equals_one_device(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, str(WORKER), str(tmp_path), str(tmp_path / "out.npz")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    d = np.load(tmp_path / "out.npz")
    n = len([k for k in d.files if k.startswith("w")])
    assert n > 10 and n == len([k for k in d.files if k.startswith("r")])
    for i in range(n):  # the same initial weights
        np.testing.assert_array_equal(d[f"i{i}"], d[f"j{i}"])
    moved = max(float(np.abs(d[f"r{i}"] - d[f"i{i}"]).max()) for i in range(n))
    diff = max(float(np.abs(d[f"w{i}"] - d[f"r{i}"]).max()) for i in range(n))
    assert moved > 1e-2 and diff < 1e-3 * moved, (moved, diff)  # a loss scaled x2 / x0.5 fails this
    assert (tmp_path / "mirrored" / "explainer" / "finished.json").is_file()


def test_explainer_strategy_config_and_cli():
    from hrcam.cli import main
    from hrcam.explainer.config import load_explainer_config

    assert load_explainer_config(None, ["train.strategy=mirrored"]).train.strategy == "mirrored"
    with pytest.raises(ValueError, match="train.strategy"):
        load_explainer_config(None, ["train.strategy=horovod"])
    with pytest.raises(SystemExit):
        main(["train-explainer", "--strategy", "nccl"])
    with pytest.raises(ValueError, match="multiworker.*classifier"):
        from hrcam.explainer.training import train_explainer_experiment

        train_explainer_experiment(load_explainer_config(None, ["train.strategy=multiworker"]))


def test_explainer_experiment_creates_the_strategy_before_any_tensorflow_work(tmp_path, monkeypatch):
    """multiworker must be created before TensorFlow runs an op: the experiment asks for the strategy
    before it seeds, builds datasets or loads the classifier."""
    import hrcam.explainer.training as explainer
    import hrcam.training.strategy as strategy
    from hrcam.explainer.config import load_explainer_config

    calls = []

    class StrategyCreated(Exception):
        pass

    def make_strategy(name, *args, **kwargs):
        calls.append(name)
        raise StrategyCreated

    def datasets(*args, **kwargs):
        raise AssertionError("datasets built before the strategy")

    monkeypatch.setattr(strategy, "make_strategy", make_strategy)
    monkeypatch.setattr(explainer, "_datasets", datasets)
    cfg = load_explainer_config(
        None, ["train.strategy=multiworker", f"classifier.path={tmp_path / 'classifier.keras'}"]
    )
    with pytest.raises(StrategyCreated):
        explainer.train_explainer_experiment(cfg)
    assert calls == ["multiworker"] and not any(tmp_path.iterdir())
