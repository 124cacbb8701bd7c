"""The seeds' trained weights in hrcam: HR-CAM's original Keras 2 HDF5 files (written here in the original's
layout: layer groups, ``weight_names`` such as ``initial_conv2D/kernel:0``) on hrcam's DenseNet-FCN, the
paper's default configuration, and keras.applications backbones / the Explainer's classifiers with local
weight files."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from keras2_h5 import write_keras2_weights, write_original_hrcam_weights

from hrcam.config import DenseNetFCNConfig
from hrcam.highres import FullModel, HalfModel
from hrcam.highres.full import check_weights
from hrcam.highres.original_weights import hrcam_layer_name, read_keras2_weights

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=4)
RAW = dataclasses.replace(TINY, pixel_scaling="raw255")
SHAPE = (32, 32, 3)


def _randomise(model: keras.Model, seed: int = 0) -> None:
    """Random weights everywhere, BN statistics included, of the scale trained weights have."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for w in layer.weights:
            shape, name = tuple(w.shape), w.name
            if name in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, shape))
            elif name in ("beta", "moving_mean", "bias"):
                values.append(rng.normal(0, 0.1, shape))
            else:  # kernels: He-normal over the fan-in
                values.append(rng.normal(0, np.sqrt(2.0 / max(1, int(np.prod(shape[:-1])))), shape))
        if values:
            layer.set_weights([v.astype(np.float32) for v in values])


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A trained-looking FullModel (random weights everywhere) and its weights in the original's files."""
    root = tmp_path_factory.mktemp("hrcam-original")
    full = FullModel(num_classes=5, input_shape=SHAPE, config=RAW)
    _randomise(full.model)
    full_h5 = write_original_hrcam_weights(full.model, root / "full_best_weights.h5")
    half_h5 = write_original_hrcam_weights(full.half_model.model, root / "half_best_weights.h5")
    return full, full_h5, half_h5, root


def test_the_file_is_in_the_original_layout(original):
    import h5py

    _, full_h5, _, _ = original
    with h5py.File(full_h5, "r") as f:
        names = [n.decode() for n in f.attrs["layer_names"]]
        assert names[0] == "input_1" and "initial_conv2D" in names and "main_output" in names
        assert [w.decode() for w in f["initial_conv2D"].attrs["weight_names"]] == ["initial_conv2D/kernel:0"]
        assert f["dense_0_0_bn"].attrs["weight_names"][0].decode().startswith("DenseNetFCN/DenseBlock/")
    assert hrcam_layer_name("dense_4_3_conv2D") == "dense4_3_conv"
    assert hrcam_layer_name("tr_up_0_conv2DT") == "tr_up0" and hrcam_layer_name("concatenate_27") is None
    assert len(read_keras2_weights(full_h5)["dense_0_0_bn"]) == 4


def test_full_model_round_trip(original):
    full, full_h5, _, _ = original
    fm = FullModel(weights=full_h5, input_shape=SHAPE, config=RAW)
    assert fm.num_classes == 5 and check_weights(full, fm) == []
    x = np.random.default_rng(1).uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    high_a, low_a, p_a = full.generate_cams(x, normalize=False)
    high_b, low_b, p_b = fm.generate_cams(x, normalize=False)
    np.testing.assert_allclose(p_b, p_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(high_b, high_a, rtol=1e-4, atol=1e-4)


def test_half_model_from_either_file(original):
    full, full_h5, half_h5, _ = original
    for path in (half_h5, full_h5):  # a FullModel's file: the expansion path is not the HalfModel's
        hm = HalfModel(weights=path, input_shape=SHAPE, config=RAW)
        assert hm.num_classes == 5 and check_weights(full.half_model, hm) == []
    x = np.random.default_rng(2).uniform(0, 1, (3, *SHAPE)).astype(np.float32)
    np.testing.assert_allclose(hm.predict_proba(x), full.half_model.predict_proba(x), rtol=1e-5, atol=1e-6)


def test_original_weights_mean_raw_pixels_and_survive_saving(original, tmp_path):
    _, _, half_h5, _ = original
    fields = {f.name: getattr(TINY, f.name) for f in dataclasses.fields(TINY)}
    hm = HalfModel(weights=half_h5, input_shape=SHAPE, **fields | {"pixel_scaling": "symmetric"})
    assert hm.config.pixel_scaling == "symmetric"  # asked for explicitly
    fields.pop("pixel_scaling")
    hm = HalfModel(weights=half_h5, input_shape=SHAPE, **fields)  # the original's input: 0-255 pixels
    assert hm.config.pixel_scaling == "raw255"
    hm.save(tmp_path / "h.keras")
    again = HalfModel.load(tmp_path / "h.keras")
    assert again.config.pixel_scaling == "raw255" and check_weights(hm, again) == []


def test_keras3_weights_file_of_hrcam(original, tmp_path):
    full, *_ = original
    path = tmp_path / "half.weights.h5"
    full.half_model.model.save_weights(path)
    hm = HalfModel(weights=path, num_classes=5, input_shape=SHAPE, config=RAW)
    assert check_weights(full.half_model, hm) == []


def test_unmatched_layers_are_listed(original, tmp_path):
    full, full_h5, half_h5, _ = original
    missing = write_original_hrcam_weights(full.half_model.model, tmp_path / "a.h5", skip=("dense1_0_conv",))
    with pytest.raises(ValueError, match=r"model layers without weights in the file: \['dense1_0_conv'\]"):
        HalfModel(weights=missing, input_shape=SHAPE, config=RAW)
    extra = write_original_hrcam_weights(
        full.half_model.model, tmp_path / "b.h5", extra={"dense_1": [("dense_1/kernel:0", np.zeros((4, 4)))]}
    )
    with pytest.raises(ValueError, match=r"file layers the model has no layer for: \['dense_1'\]"):
        HalfModel(weights=extra, input_shape=SHAPE, config=RAW)
    with pytest.raises(ValueError, match=r"shape mismatches: initial_conv2D -> initial_conv"):
        HalfModel(weights=half_h5, input_shape=SHAPE, config=dataclasses.replace(RAW, initial_filters=6))
    with pytest.raises(ValueError, match="HalfModel's weights"):
        FullModel(weights=half_h5, input_shape=SHAPE, config=RAW)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        HalfModel(weights=tmp_path / "nope.h5")
    (tmp_path / "c.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="neither a Keras 2"):
        HalfModel(weights=tmp_path / "c.h5", input_shape=SHAPE, config=RAW)


def test_no_arguments_give_the_papers_configuration():
    hm = HalfModel()
    assert hm.num_classes == 398 and hm.input_shape == (224, 224, 3)
    assert hm.config == DenseNetFCNConfig() and hm.cam(np.zeros((1, 224, 224, 3), np.float32)).shape == (
        1,
        14,
        14,
    )
    assert hm.model.count_params() == 1_069_630  # the original's HalfDenseNetFCN (reference, section 1)
    fm = FullModel()
    assert fm.num_classes == 398 and fm.input_shape == (224, 224, 3)
    assert fm.model.count_params() == 1_683_902  # the original's AuxiliaryDenseNetFCN (reference, section 2)


# -- keras.applications backbones with local weights -----------------------------------------------------
def _legacy_h5(model: keras.Model, path):
    """A keras.applications-style (Keras 2 layout) weights file of ``model``."""
    layers = [
        (layer.name, [(f"{layer.name}/{w.name}:0", w.numpy()) for w in layer.weights])
        for layer in model.layers
    ]
    return write_keras2_weights(path, layers)


def _nested(model: keras.Model) -> keras.Model:
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def test_half_model_backbone_takes_a_local_weights_file(tmp_path):
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=SHAPE)
    _randomise(base, 3)
    for path in (_legacy_h5(base, tmp_path / "mobilenet_v2_notop.h5"), tmp_path / "notop.weights.h5"):
        if path.suffix == ".h5" and path.name.endswith(".weights.h5"):
            base.save_weights(path)
        hm = HalfModel(num_classes=4, input_shape=SHAPE, backbone="mobilenetv2", weights=path)
        for a, b in zip(_nested(hm.model).get_weights(), base.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="is not a file"):
        HalfModel(num_classes=4, input_shape=SHAPE, backbone="mobilenetv2", weights=tmp_path / "missing.h5")


def test_multilabel_classifier_takes_a_local_weights_file(tmp_path):
    from hrcam.explainer.classifier import build_classifier

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=SHAPE)
    _randomise(base, 4)
    path = _legacy_h5(base, tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    model = build_classifier("vgg16", 3, SHAPE, weights=str(path), hidden_units=8)
    nested = _nested(model)
    assert not nested.trainable  # pretrained weights: a frozen backbone, as with "imagenet"
    for a, b in zip(nested.get_weights(), base.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="is not a file"):
        build_classifier("resnet50", 3, SHAPE, weights=str(tmp_path / "none.h5"))


def test_explainer_config_takes_weight_files():
    from hrcam.explainer.config import load_explainer_config

    cfg = load_explainer_config(None, ["classifier.weights=/w/vgg16_notop.h5", "explainer.weights=imagenet"])
    assert cfg.classifier.weights == "/w/vgg16_notop.h5"
    with pytest.raises(ValueError, match="a weights file path"):
        load_explainer_config(None, ["classifier.weights=vgg16"])
