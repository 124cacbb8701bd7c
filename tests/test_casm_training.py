"""CASM (issue 11): the masker as a Keras component and its training step (tiny models, 32x32)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.casm.config import load_casm_config
from hrcam.casm.masker import CasmMasker, load_masker
from hrcam.casm.resnet import build_resnet
from hrcam.casm.trainer import CasmTrainer, masker_losses

TINY = [
    "classifier.path=null",
    "data.image_size=32",
    "data.train_size=48",
    "data.val_size=16",
    "data.test_size=16",
    "data.batch_size=16",
    "data.augment=false",
    "classifier.kind=resnet",
    "classifier.resnet={widths: [8, 8, 16, 16], stem: 8}",
    "masker.channels=8",
]


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, n)


def test_masker_saves_and_loads_with_keras_saving(tmp_path):
    from hrcam.models import HalfModel

    x, _ = _data(4)
    for clf in (
        build_resnet(3, (32, 32, 3), widths=(8, 8, 16, 16), stem=8),
        HalfModel(3, (32, 32, 3), num_blocks=2, layers_per_block=1, growth_rate=4, initial_filters=8).model,
    ):
        m = CasmMasker(clf, channels=8)
        out = m(x)
        assert out["mask"].shape == (4, 32, 32, 1) and out["logits"].shape == (4, 3)
        assert 0 <= float(tf.reduce_min(out["mask"])) and float(tf.reduce_max(out["mask"])) <= 1
        m.save(tmp_path / "m.keras")
        back = keras.saving.load_model(tmp_path / "m.keras")
        assert isinstance(back, CasmMasker) and back.features == m.features
        np.testing.assert_allclose(load_masker(tmp_path / "m.keras").masks(x), m.masks(x), atol=1e-6)


def test_features_are_stopped_masker_loss_never_reaches_the_classifier():
    m = CasmMasker(build_resnet(3, (32, 32, 3), widths=(8, 8, 16, 16), stem=8), channels=8)
    x, _ = _data(2)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(m(x, training=True)["mask"])
    grads = tape.gradient(loss, m.classifier.trainable_variables)
    assert all(g is None for g in grads)


def test_ntc_gating_unconfused_images_get_no_area_term():
    logits = tf.constant([[5.0, 0.0], [5.0, 0.0], [0.0, 5.0]])  # correct, correct, wrong (label 0)
    masked = tf.constant([[5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])  # still right, confused, wrong
    labels = tf.constant([0, 0, 0])
    mask = tf.Variable(tf.fill((3, 4, 4, 1), 0.25))
    with tf.GradientTape() as tape:
        out = masker_losses(logits, masked, mask, labels, lambda_r=10.0)
    g = tape.gradient(out["area_loss"], mask).numpy()
    assert np.all(g[0] == 0) and np.all(g[2] == 0)  # not confused / not correct: no area term
    assert np.all(g[1] > 0)  # the confused image's area is penalised
    assert float(out["ntc"]) == pytest.approx(1 / 3)
    assert float(out["area_loss"]) == pytest.approx(-10.0 * (1 - 0.25) / 3)


def test_fixed_classifier_mode_never_changes_the_classifier():
    clf = build_resnet(3, (32, 32, 3), widths=(8, 8, 16, 16), stem=8)
    trainer = CasmTrainer(CasmMasker(clf, channels=8), lambda_r=2.5, fixed_classifier=True)
    trainer.build_all()
    trainer.compile(optimizer=trainer.masker_optimizer)
    before = [w.copy() for w in trainer.masker.classifier.get_weights()]  # BN statistics included
    dec_before = [w.copy() for w in trainer.masker.decoder.get_weights()]
    x, y = _data(32)
    trainer.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for a, b in zip(before, trainer.masker.classifier.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(dec_before, trainer.masker.decoder.get_weights()))
    assert int(trainer.classifier_optimizer.iterations.numpy()) == 0


@pytest.mark.slow
def test_masker_lowers_its_loss_on_synthetic_scenes():
    """With a fixed, confident classifier and lambda_r = 0 the objective is stationary (the gates only
    depend on the clean images): a few masker steps must lower it on the same scenes."""
    from hrcam.data.synthetic import make_scenes

    keras.utils.set_random_seed(0)
    scenes = make_scenes(64, image_size=32, num_classes=3, seed=0)
    x, y = scenes.images.astype(np.float32) / 255.0, np.asarray(scenes.labels)
    clf = build_resnet(3, (32, 32, 3), widths=(8, 8, 16, 16), stem=8)
    clf.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    clf.fit(x, y, batch_size=16, epochs=12, verbose=0)  # a confident classifier: masking can add entropy
    trainer = CasmTrainer(CasmMasker(clf, channels=8), lambda_r=0.0, fixed_classifier=True, masker_lr=1e-2)
    trainer.build_all()
    trainer.compile(optimizer=trainer.masker_optimizer)

    def loss():
        return float(trainer._step(tf.constant(x), tf.constant(y), training=False)["masker_loss"])

    before = loss()
    for t in trainer.trackers.values():
        t.reset_state()
    trainer.fit(x, y, batch_size=16, epochs=5, verbose=0)
    for t in trainer.trackers.values():
        t.reset_state()
    after = loss()
    assert after < before - 0.02, (before, after)


@pytest.mark.slow
def test_resume_after_interruption_reproduces_pool_and_steps(tmp_path):
    """Killed after epoch 1, resumed: the same pool and step counts as the uninterrupted schedule (the
    pool's choices replayed with its seed and a fake batch clock)."""
    from hrcam.casm.pool import ClassifierPool
    from hrcam.casm.training import train_casm

    common = TINY + ["data.train_size=32", "train.epochs=2", "train.checkpoint_every=100"]
    mode = ["reproduce=null", "train.hp=0.5", "train.smf=2", "train.f_size=2", "train.seed=0"]
    cfg = load_casm_config("casm-synthetic", common + mode + [f"run_dir={tmp_path / 'b'}"])
    first = train_casm(cfg, verbose=0, stop_after_epochs=1)  # "killed" after epoch 1
    assert first["epochs_trained"] == 1 and first["steps"] == 2 and first["pool_size"] == 2
    resumed = train_casm(cfg, verbose=0)

    pool, classifier_steps = ClassifierPool(2, 0.5, 2, seed=0), 0
    for _epoch in range(2):
        for batch in range(2):  # 32 images, batches of 16
            classifier_steps += 1 + (pool.choose() is None)  # a second step unless a snapshot was used
            if pool.due(batch):
                pool.add([np.zeros(1)])
    assert resumed["epochs_trained"] == 2 and resumed["steps"] == 4
    assert resumed["classifier_steps"] == classifier_steps
    # snapshots after batch 0 (empty pool) and 1 of epoch 1 and batch 1 of epoch 2; the cap keeps 2
    assert (resumed["pool_size"], resumed["pool_stored"]) == (len(pool), pool.stored) == (2, 3)
    assert (tmp_path / "b" / "casm" / "last.keras").is_file()
    assert list((tmp_path / "b" / "logs" / "casm" / "examples").iterdir())


@pytest.mark.slow
def test_cli_score_casm_and_evaluate_masks(tmp_path, capsys):
    import json

    from hrcam.cli import main

    m = CasmMasker(build_resnet(6, (32, 32, 3), widths=(8, 8, 16, 16), stem=8), channels=8)
    m.save(tmp_path / "m.keras")
    build_resnet(6, (32, 32, 3), widths=(8, 8, 8, 8), stem=8).save(tmp_path / "r.keras")
    common = ["--data", "synthetic", "--num-synthetic", "6", "--json"]
    assert main(["score", "--method", "casm", "--masker", str(tmp_path / "m.keras"), *common]) == 0
    scores = json.loads(capsys.readouterr().out)["methods"]["casm"]
    assert {"LE", "OM", "F1", "F1a", "mask_mean", "mask_entropy", "mask_tv"} <= set(scores)
    args = ["evaluate", "masks", "--masker", f"m={tmp_path / 'm.keras'}", "--toy", "ones"]
    args += ["--classifier", f"r={tmp_path / 'r.keras'}", "--out", str(tmp_path / "out"), "--figure", "2"]
    assert main(args + common) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["results"]) == {"m", "toy-ones"} and res["mask_area"]["toy-ones"] == 1.0
    top1 = res["results"]["toy-ones"]["r"]
    assert top1["masked_out"]["top1"] == top1["inpainted"]["top1"]  # nothing left to inpaint from
    assert (tmp_path / "out" / "masks_top1.png").is_file() and (tmp_path / "out" / "figure2_m.png").is_file()
    assert main(["score", "--method", "casm", *common]) == 2  # no --masker: a clear error


@pytest.mark.slow
def test_mirrored_strategy_interrupted_and_resumed_equals_one_device(tmp_path):
    """MirroredStrategy over 2 logical CPUs (global batch 16, 8 per replica, pool on), stopped after epoch 1
    and resumed under the strategy: the masker and classifier weights equal a one-device run on the same
    global batches (1e-5, as tests/test_distribute.py), with the same pool and step counts. A subprocess:
    logical devices must be configured before TensorFlow starts."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "TF_CPP_MIN_LOG_LEVEL": "2"}
    worker = repo / "tests" / "data" / "casm_distributed_worker.py"
    out = tmp_path / "out.npz"
    proc = subprocess.run(
        [sys.executable, str(worker), str(tmp_path), str(out)], env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming at epoch 2/2" in proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert runs["first"]["epochs_trained"] == 1 and runs["resumed"]["epochs_trained"] == 2
    assert runs["resumed"]["replicas"] == 2 and runs["reference"]["replicas"] == 1
    same = ("steps", "classifier_steps", "pool_size", "pool_stored")
    assert {k: runs["resumed"][k] for k in same} == {k: runs["reference"][k] for k in same}
    # a pool snapshot classified some batches (no second classifier step then): the history path ran
    assert runs["reference"]["steps"] < runs["reference"]["classifier_steps"] < 2 * runs["reference"]["steps"]
    d = np.load(out)
    n = len([k for k in d.files if k.startswith("m")])
    assert n > 20 and n == len([k for k in d.files if k.startswith("r")])
    assert max(float(np.abs(d[f"m{i}"] - d[f"r{i}"]).max()) for i in range(n)) < 1e-5
    assert any(float(np.abs(d[f"m{i}"]).max()) > 0 for i in range(n))


def test_casm_strategy_names_are_checked(tmp_path, capsys):
    from hrcam.cli import main

    with pytest.raises(ValueError, match="strategy"):
        load_casm_config("casm-synthetic", ["train.strategy=horovod"])
    with pytest.raises(ValueError, match="`train.mixed_precision`: expected false.*not supported"):
        load_casm_config("casm-synthetic", ["train.mixed_precision=true"])
    assert load_casm_config("casm-synthetic", ["train.strategy=mirrored"]).train.strategy == "mirrored"
    with pytest.raises(SystemExit):
        main(["train-casm", "--strategy", "nccl"])
    assert "invalid choice: 'nccl'" in capsys.readouterr().err
