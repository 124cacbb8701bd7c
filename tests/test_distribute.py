"""tf.distribute in the trainers: MirroredStrategy over 2 logical CPUs (with a kill and a resume) and
MultiWorkerMirroredStrategy over 2 processes on 127.0.0.1 end with the weights of a one-device run on the same
global batches. Each run is a subprocess (tests/data/distributed_worker.py): logical devices and collective
ops must be configured before TensorFlow starts."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "data" / "distributed_worker.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _max_diff(path: Path, prefix: str = "w", ref: str = "r") -> float:
    d = np.load(path)
    n = len([k for k in d.files if k.startswith(prefix)])
    assert n > 10 and n == len([k for k in d.files if k.startswith(ref)])
    return max(float(np.abs(d[f"{prefix}{i}"] - d[f"{ref}{i}"]).max()) for i in range(n))


@pytest.mark.slow
def test_mirrored_run_killed_after_a_checkpoint_resumes_and_equals_one_device(tmp_path):
    """2 replicas, global batch 16 (8 per replica), 2 epochs of 4 steps. The first process is killed
    (os._exit, no cleanup) on the first batch of epoch 2, after the epoch-1 checkpoint; the second resumes
    under the strategy and finishes; its weights equal one device's on the same batches."""
    args = [
        sys.executable,
        str(WORKER),
        "mirrored",
        str(tmp_path),
        str(tmp_path / "out.npz"),
        "--checkpoint-every",
        "100",
    ]
    killed = subprocess.run(
        [*args, "--kill-after-batches", "5"], env=ENV, capture_output=True, text=True, timeout=600
    )
    assert killed.returncode == 9, killed.stderr[-3000:]
    state = json.loads((tmp_path / "mirrored" / "half" / "state" / "state.json").read_text())
    assert state["epoch"] == 1 and not (tmp_path / "out.npz").exists()
    resumed = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming at epoch 2/2" in resumed.stderr
    assert _max_diff(tmp_path / "out.npz") < 1e-5


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_two_processes_equal_one_process(tmp_path):
    """Two workers (TF_CONFIG, 127.0.0.1), one CPU replica each: each step's global batch of 16 is split
    8 + 8 across the workers; the chief then trains the same model on one device for comparison."""
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        env = {
            **ENV,
            "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}),
        }
        out = tmp_path / f"out{i}.npz"
        cmd = [sys.executable, str(WORKER), "multiworker", str(tmp_path), str(out)]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    assert _max_diff(tmp_path / "out0.npz") < 1e-5
    d0, d1 = np.load(tmp_path / "out0.npz"), np.load(tmp_path / "out1.npz")
    for k in d1.files:  # the replicas hold the same weights
        np.testing.assert_array_equal(d0[k], d1[k])
    # only the chief writes the run directory; the other worker saves into its own scratch folder
    assert (tmp_path / "multiworker" / "half" / "last.keras").is_file()
    assert (tmp_path / "multiworker" / ".workers" / "worker-1" / "half" / "last.keras").is_file()


def test_strategy_names_batches_and_mixed_precision():
    from hrcam.config import TrainConfig
    from hrcam.training.strategy import check_mixed_precision, make_strategy, per_replica_batch_size

    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(strategy="horovod")
    with pytest.raises(ValueError, match="strategy"):
        make_strategy("horovod")
    default = make_strategy("default")
    assert per_replica_batch_size(16, default) == 16

    class Two:
        num_replicas_in_sync = 2

    assert per_replica_batch_size(16, Two()) == 8
    with pytest.raises(ValueError, match="multiple of the 2 replica"):
        per_replica_batch_size(15, Two())
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ValueError, match="needs a GPU"):
            check_mixed_precision(True)
    check_mixed_precision(False)


def test_train_cli_has_the_strategy_flags(tmp_path, capsys):
    from hrcam.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("half: {epochs: 1}\n")
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):  # refused before any data is made or model built
        assert (
            main(["train-half", "--config", str(cfg), "--mixed-precision", "--run-dir", str(tmp_path / "r")])
            == 2
        )
        assert "needs a GPU" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-half", "--strategy", "nccl"])
