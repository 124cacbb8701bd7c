"""``hrcam extract``: sharded TFRecord maps, resume after a kill, Beam DirectRunner.

The Beam test skips without apache-beam, except under ``make test`` (HRCAM_REQUIRE_BEAM=1), where it fails."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hrcam.extract import extract, read_shards
from hrcam.extract.shards import finished_shards

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    from hrcam.config import DenseNetFCNConfig
    from hrcam.models import HalfModel

    keras.utils.set_random_seed(0)
    cfg = DenseNetFCNConfig(
        num_blocks=2, layers_per_block=1, growth_rate=4, initial_filters=8, cam_channels=6
    )
    path = tmp_path_factory.mktemp("model") / "half.keras"
    HalfModel(3, (32, 32, 3), cfg).save(path)
    return path


def _write_images(folder: Path, n: int) -> list[str]:
    import cv2

    rng = np.random.default_rng(0)
    ids = []
    for i in range(n):
        rel = f"c{i % 3}/img{i:04d}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / rel), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        ids.append(rel)
    return ids


def test_extract_local_matches_generate_cams_and_resumes(tmp_path, tiny_model):
    from hrcam.arrays import minmax, resize_maps
    from hrcam.data.images import load_image_files
    from hrcam.models import load_model

    ids = _write_images(tmp_path / "images", 70)
    out = tmp_path / "maps"
    summary = extract(
        tmp_path / "images", tiny_model, out, methods="cam,gradcam", size=16, shard_size=32,
        runner="local", progress=False,
    )  # fmt: skip
    assert summary["shards"] == 3 and summary["images_processed"] == 70
    assert sorted(finished_shards(out)) == [f"maps-0000{i}-of-00003.tfrecord" for i in range(3)]
    records = list(read_shards(out))
    assert sorted(r["id"] for r in records) == sorted(ids)
    hm = load_model(tiny_model)
    images = load_image_files([tmp_path / "images" / r["id"] for r in records], 32)
    cam, probs = hm.generate_cams(images, normalize=False)
    # the export heads' CAM: up-sampled to the image, min-max normalised; then resized to --size
    expected = resize_maps(minmax(resize_maps(cam, (32, 32))), (16, 16))
    got = np.stack([r["maps"]["cam"] for r in records])
    assert got.shape == (70, 16, 16) and np.stack([r["maps"]["gradcam"] for r in records]).shape == got.shape
    np.testing.assert_allclose(np.stack([r["probabilities"] for r in records]), probs, atol=1e-5)
    assert [r["class"] for r in records] == list(np.argmax(probs, -1))
    assert np.abs(got - expected).max() <= 0.5 / 255 + 1e-4  # uint8 storage: half a grey level
    # rerun: every shard finished -> nothing recomputed; other settings -> refused, nothing mixed
    again = extract(tmp_path / "images", tiny_model, out, methods="cam,gradcam", size=16, shard_size=32,
                    runner="local", progress=False)  # fmt: skip
    assert again["shards_skipped"] == 3 and again["images_processed"] == 0
    with pytest.raises(ValueError, match="other settings"):
        extract(tmp_path / "images", tiny_model, out, methods="cam", size=16, shard_size=32, runner="local")


def test_extract_errors(tmp_path, tiny_model):
    _write_images(tmp_path / "images", 2)
    with pytest.raises(ValueError, match="dtype"):
        extract(tmp_path / "images", tiny_model, tmp_path / "o", dtype="float64", runner="local")
    with pytest.raises(ValueError, match="unknown map source 'nosuch'"):
        extract(tmp_path / "images", tiny_model, tmp_path / "o2", methods="nosuch", runner="local")
    with pytest.raises(FileNotFoundError):
        extract(tmp_path / "missing", tiny_model, tmp_path / "o3", runner="local")


def _beam_available() -> bool:
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_extract_killed_half_way_then_resumed(tmp_path, tiny_model):
    """2,000 images, 20 shards: SIGKILL once some shards exist; no partial shard is visible; the rerun
    computes only the missing shards and every image appears exactly once."""
    ids = _write_images(tmp_path / "images", 2000)
    out = tmp_path / "maps"
    runner = "DirectRunner" if _beam_available() else "local"
    cmd = [sys.executable, "-m", "hrcam.cli", "extract", str(tmp_path / "images"), "--model", str(tiny_model),
           "--out", str(out), "--methods", "cam", "--shard-size", "100", "--runner", runner, "--no-progress",
           "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while (
        time.time() < deadline
        and proc.poll() is None
        and len(finished_shards(out) if out.exists() else ()) < 5
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = finished_shards(out)
    assert 5 <= len(first) < 20, f"kill came too late or too early: {len(first)} shards"
    partial = sorted(p.name for p in out.glob("maps-*") if p.name not in first)
    assert not partial
    for rec in read_shards(out):  # every visible shard parses whole: 100 records each
        assert rec["maps"]["cam"].shape == (32, 32)
    assert len(list(read_shards(out))) == 100 * len(first)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    summary = json.loads(done.stdout)
    assert summary["shards_skipped"] == len(first)
    assert summary["images_processed"] == 2000 - 100 * len(first)
    got = [r["id"] for r in read_shards(out)]
    assert len(got) == 2000 and sorted(got) == sorted(ids)
    assert not list(out.glob(".maps-*"))


def _need_beam() -> None:
    """Skip without Beam, or fail where the install should have it (``make test`` sets HRCAM_REQUIRE_BEAM)."""
    if _beam_available():
        return
    msg = "apache-beam is not installed (pip install 'hrcam[beam]')"
    if os.environ.get("HRCAM_REQUIRE_BEAM") == "1":
        pytest.fail(msg + "; HRCAM_REQUIRE_BEAM=1 (make test) expects it")
    pytest.skip(msg)


def test_extract_on_beam_direct_runner_equals_local(tmp_path, tiny_model):
    _need_beam()
    _write_images(tmp_path / "images", 40)
    kw = {"methods": "cam", "shard_size": 16, "progress": False}
    extract(tmp_path / "images", tiny_model, tmp_path / "beam", runner="DirectRunner", **kw)
    extract(tmp_path / "images", tiny_model, tmp_path / "local", runner="local", **kw)
    beam = {r["id"]: r for r in read_shards(tmp_path / "beam")}
    local = {r["id"]: r for r in read_shards(tmp_path / "local")}
    assert sorted(beam) == sorted(local) and len(beam) == 40
    for k, r in local.items():
        np.testing.assert_array_equal(beam[k]["maps"]["cam"], r["maps"]["cam"])


@pytest.mark.slow
def test_extract_from_a_saved_model_export_equals_the_keras_file(tmp_path, tiny_model):
    from hrcam.export import export_saved_model

    _write_images(tmp_path / "images", 12)
    export_saved_model(
        tiny_model, tmp_path / "serving", "tiny", heads="cam,gradcam", warmup=False, verify=False
    )
    kw = {"methods": "cam,gradcam", "size": 16, "dtype": "float16", "runner": "local", "progress": False}
    extract(
        tmp_path / "images", tmp_path / "serving" / "tiny", tmp_path / "from_saved", **kw
    )  # version dir found
    extract(tmp_path / "images", tiny_model, tmp_path / "from_keras", **kw)
    saved = {r["id"]: r for r in read_shards(tmp_path / "from_saved")}
    keras_ = {r["id"]: r for r in read_shards(tmp_path / "from_keras")}
    assert sorted(saved) == sorted(keras_) and len(saved) == 12
    for k, r in keras_.items():
        assert saved[k]["class"] == r["class"]
        for m in ("cam", "gradcam"):
            np.testing.assert_allclose(saved[k]["maps"][m], r["maps"][m], atol=2e-3)  # float16 storage


def test_image_batches_read_files_and_tfrecords_in_order(tmp_path):
    """Image files and TFRecord records (out of record order, another size: resized) in one prefetched
    pipeline: the batches hold the items in order, equal to the files decoded by load_image_files."""
    import cv2
    import tensorflow as tf

    from hrcam.data.images import load_image_files
    from hrcam.extract.sources import image_batches, list_items

    _write_images(tmp_path / "images", 7)
    rng = np.random.default_rng(1)
    record_file, big = tmp_path / "more.tfrecord", tmp_path / "big"
    big.mkdir()
    with tf.io.TFRecordWriter(str(record_file)) as writer:
        for i in range(5):
            cv2.imwrite(str(big / f"{i}.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
            data, name = (big / f"{i}.png").read_bytes(), f"r/{4 - i}".encode()
            feats = {
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                "image/id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    items = list_items([tmp_path / "images", record_file])
    batches = list(image_batches(items, (32, 32), 4))
    assert [b.shape for b in batches] == [(4, 32, 32, 3)] * 3
    files = [it.path if it.index < 0 else str(big / f"{it.index}.png") for it in items]
    assert [it.id for it in items][-5:] == [f"r/{i}" for i in range(5)]  # sorted ids: records 4, 3, ... 0
    np.testing.assert_array_equal(np.concatenate(batches), load_image_files(files, 32))
    with pytest.raises(ValueError, match="batch_size"):
        next(image_batches(items, (32, 32), 0))
