"""HalfModel / FullModel as Keras models: keras.saving round trips, files of the earlier release, one
loading path, the models <-> training import direction, cached views, the same CAM convention."""

import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.models import LAYERS, DenseNetFCNConfig, FullModel, HalfModel, load_model

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def half():
    keras.utils.set_random_seed(1)
    return HalfModel(num_classes=5, input_shape=(32, 32, 3), config=TINY)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).random((4, 32, 32, 3), dtype=np.float32)


def _assert_same_maps(a, b, atol=1e-6):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def test_keras_load_model_gives_half_and_full_models(half, images, tmp_path):
    loaded = keras.saving.load_model(half.save(tmp_path / "half.keras"))
    assert type(loaded) is HalfModel and isinstance(loaded, keras.Model)
    _assert_same_maps(loaded.generate_cams(images), half.generate_cams(images))
    _assert_same_maps(
        loaded.generate_cams(images, normalize=False), half.generate_cams(images, normalize=False)
    )
    assert loaded.config == TINY
    for objective in ("reconstruct", "align"):
        fm = FullModel(half, objective=objective)
        loaded = keras.saving.load_model(fm.save(tmp_path / f"full_{objective}.keras"))
        assert type(loaded) is FullModel and loaded.objective == objective
        _assert_same_maps(loaded.generate_cams(images), fm.generate_cams(images))
        # the frozen state of stage 2 survives too
        fm.freeze_classifier()
        again = keras.saving.load_model(fm.save(tmp_path / "frozen.keras"))
        assert (
            not again.get_layer(LAYERS.logits).trainable and again.get_layer(LAYERS.reconstruction).trainable
        )


def test_backbone_half_models_round_trip(images, tmp_path):
    inner = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, padding="same")])
    for backbone in ("mobilenet_v2", inner):
        hm = HalfModel(num_classes=4, input_shape=(32, 32, 3), backbone=backbone)
        loaded = keras.saving.load_model(hm.save(tmp_path / "b.keras"))
        assert type(loaded) is HalfModel
        _assert_same_maps(
            loaded.generate_cams(images, normalize=False), hm.generate_cams(images, normalize=False)
        )


def test_files_of_the_earlier_release_load(half, images, tmp_path):
    # a FullModel file written by the earlier release (tests/data/make_old_full_align.py) with Keras 3.15.1;
    # older Keras releases cannot read its initializer configs (Keras' forward compatibility, not hrcam's)
    keras_version = tuple(int(p) for p in keras.__version__.split(".")[:2])
    expected = np.load(DATA / "old_full_align_expected.npz")
    fixture = () if keras_version < (3, 15) else (DATA / "old_full_align.keras",) * 2
    for fm in [loader(path) for loader, path in zip((FullModel.load, load_model), fixture)]:
        assert type(fm) is FullModel and fm.objective == "align"
        high, low, probs = fm.generate_cams(expected["x"], normalize=False)
        _assert_same_maps((high, low, probs), (expected["high"], expected["low"], expected["probs"]), 1e-5)
    for path in fixture[:1]:
        hm = HalfModel.load(path)
        assert type(hm) is HalfModel
        np.testing.assert_allclose(hm.predict_proba(expected["x"]), expected["probs"], atol=1e-6)
    # the earlier release saved HalfModels as the plain Functional graph (hm.model.save)
    path = tmp_path / "old_half.keras"
    keras.Model(half.model.inputs[0], half.model.output).save(path)
    for hm in (HalfModel.load(path), load_model(path)):
        assert type(hm) is HalfModel
        _assert_same_maps(hm.generate_cams(images), half.generate_cams(images))
    # any other Keras model comes back as the plain keras.Model; HalfModel.load names what is missing
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    assert not isinstance(load_model(tmp_path / "other.keras"), (HalfModel, FullModel))
    with pytest.raises(ValueError, match="conv_aux"):
        HalfModel.load(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="expansion path"):
        FullModel.load(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")


def test_half_and_full_models_agree_on_the_low_res_cam_by_default(half, images):
    fm = FullModel(half)
    _, low, _ = fm.generate_cams(images)
    cam, _ = half.generate_cams(images)
    np.testing.assert_allclose(cam, low, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        half.cam(images, custom_class=2), fm.low_res_cam(images, custom_class=2), atol=1e-6
    )
    assert 0 <= cam.min() and cam.max() <= 1


def test_views_are_cached_and_share_layers(half):
    fm = FullModel(half)
    assert fm.half_model is fm.half_model
    assert fm.cam_model is fm.cam_model and fm.model is fm.model
    assert fm.half_model.get_layer(LAYERS.logits) is fm.get_layer(LAYERS.logits)
    assert half.model.get_layer(LAYERS.cam_features) is half.get_layer(LAYERS.cam_features)
    # Keras tracks each layer once: the HalfModel's weights are exactly its graph's
    assert len(half.weights) == len(half.model.weights)


def test_keras_api_and_hrcam_api_side_by_side(half, images, tmp_path):
    labels = np.arange(len(images)) % 5
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    hm = HalfModel(num_classes=5, input_shape=(32, 32, 3), config=TINY)
    ckpt = tmp_path / "ckpt.keras"
    hm.fit(ds, epochs=1, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(str(ckpt))])
    assert hm.optimizer.learning_rate.numpy() == pytest.approx(1.0)  # compile defaults: the paper's Adadelta
    assert set(hm.evaluate(ds, verbose=0, return_dict=True)) >= {"loss", "accuracy", "top5_accuracy"}
    preds = hm.predict(images)
    assert preds.shape == (4,) and preds.dtype.kind == "i"  # hrcam's predict: class indices
    assert hm.model.predict(images, verbose=0).shape == (4, 5)  # Keras' predict: probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        again = keras.saving.load_model(ckpt)  # compiled, with hrcam's compile
    assert type(again) is HalfModel and again.compiled


def test_models_do_not_import_training():
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        "import hrcam.models as m\n"
        "cfg = m.DenseNetFCNConfig(num_blocks=1, layers_per_block=1, growth_rate=2, initial_filters=4)\n"
        "hm = m.HalfModel(3, (16, 16, 3), cfg)\n"
        "x = np.zeros((2, 16, 16, 3), np.float32)\n"
        "ds = tf.data.Dataset.from_tensor_slices((x, np.arange(2))).batch(2)\n"
        "hm.fit(ds, epochs=1, verbose=0)\n"
        "m.FullModel(hm).fit(ds, epochs=1, verbose=0)\n"
        "bad = sorted(k for k in sys.modules if k.startswith(('hrcam.training', 'hrcam.commands')))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_layer_names_come_from_one_table(half):
    for name in (LAYERS.cam_features, LAYERS.pool, LAYERS.logits, LAYERS.probabilities, LAYERS.preprocess):
        half.get_layer(name)
    fm = FullModel(half)
    assert set(fm.output) == {LAYERS.probabilities, LAYERS.reconstruction}
    assert LAYERS.high_res[0] in {layer.name for layer in fm.layers}
    # no file of hrcam spells these names (the whole package, ast-based: tests/test_structure.py)
    from test_structure import ALLOWED, layer_literal_findings

    unlisted = sorted(set(layer_literal_findings()) - set(ALLOWED))
    assert not unlisted, f"use hrcam.highres.layers.LAYERS: {unlisted}"
