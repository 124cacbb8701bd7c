"""HalfModel / FullModel: architecture, CAM known answers, stage-2 freezing, persistence, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.highres import classifier_of
from hrcam.highres.stage2 import fit_full_model
from hrcam.models import DenseNetFCNConfig, FullModel, HalfModel, check_weights

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)


@pytest.fixture(scope="module")
def half():
    keras.utils.set_random_seed(0)
    return HalfModel(num_classes=5, input_shape=(32, 32, 3), config=TINY)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((6, 32, 32, 3), dtype=np.float32)


def test_paper_architecture_matches_original_parameter_count():
    # The reference rebuild of the original (398 classes, 224x224) has 1,069,630 parameters for the
    # HalfModel and 1,683,902 for the FullModel, with a 14x14 CAM.
    hm = HalfModel(num_classes=398, input_shape=(224, 224, 3))
    assert hm.model.count_params() == 1_069_630
    assert hm.cam_shape == (14, 14)
    assert hm.model.get_layer("conv_aux").output.shape[-1] == 16
    fm = FullModel(hm)
    assert fm.model.count_params() == 1_683_902
    assert fm.model.get_layer("tr_up_early").output.shape[1:] == (224, 224, 16)


@pytest.mark.parametrize("size", [64, 96])
def test_input_sizes(size):
    hm = HalfModel(
        num_classes=3,
        input_shape=(size, size, 3),
        num_blocks=2,
        layers_per_block=1,
        growth_rate=4,
        initial_filters=8,
    )
    assert hm.cam_shape == (size // 4, size // 4)


def test_bad_input_shape_names_the_multiple():
    with pytest.raises(ValueError, match="multiples of 32"):
        HalfModel(num_classes=3, input_shape=(100, 100, 3))
    with pytest.raises(ValueError, match="num_classes"):
        HalfModel(num_classes=1, input_shape=(32, 32, 3), config=TINY)
    with pytest.raises(ValueError, match="weights"):
        HalfModel(num_classes=3, input_shape=(32, 32, 3), config=TINY, weights="imagenet")


def test_cam_known_answer(half, images):
    """CAM of class c = the Dense kernel's column c applied to the conv_aux activations, by hand in NumPy."""
    acts = keras.Model(half.model.input, half.model.get_layer("conv_aux").output)(images).numpy()
    kernel = half.model.get_layer("logits").get_weights()[0]
    probs = half.predict_proba(images)
    predicted = probs.argmax(1)
    expected = np.einsum("bhwk,bk->bhw", acts, kernel[:, predicted].T)
    np.testing.assert_allclose(half.cam(images, normalize=False), expected, rtol=1e-4, atol=1e-5)
    # a fixed class, including class 0 (the original handled 0 as "no class" in places)
    np.testing.assert_allclose(
        half.cam(images, custom_class=0, normalize=False), acts @ kernel[:, 0], rtol=1e-4, atol=1e-5
    )
    # GAP of the CAM plus the bias is the logit: the CAM decomposes the score spatially
    bias = half.model.get_layer("logits").get_weights()[1]
    logits = np.log(probs)
    cam_all = np.einsum("bhwk,kc->bc", acts, kernel) / (acts.shape[1] * acts.shape[2]) + bias
    np.testing.assert_allclose(
        cam_all - cam_all.mean(1, keepdims=True), logits - logits.mean(1, keepdims=True), atol=1e-4
    )


def test_cam_shapes_dtypes_ranges(half, images):
    cam, probs = half.generate_cams(images, normalize=True)
    assert cam.shape == (6, 8, 8) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    multi = half.cam(images, custom_class=np.tile([[0, 3]], (6, 1)))
    assert multi.shape == (6, 2, 8, 8)
    np.testing.assert_allclose(multi[:, 1], half.cam(images, custom_class=3), rtol=1e-5, atol=1e-6)
    # uint8 input is converted (x / 255) and gives the same answer as the float image
    u8 = (images * 255).round().astype(np.uint8)
    np.testing.assert_allclose(half.cam(u8), half.cam(u8.astype(np.float32) / 255), rtol=1e-5, atol=1e-6)
    # batching does not change results
    np.testing.assert_allclose(half.cam(images, batch_size=4), half.cam(images), rtol=1e-5, atol=1e-6)


def test_predict_n_is_sorted_top_n(half, images):
    probs = half.predict_proba(images)
    top = half.predict_n(images, n=3)
    assert top.shape == (6, 3)
    np.testing.assert_array_equal(top[:, 0], half.predict(images))
    picked = np.take_along_axis(probs, top, 1)
    assert np.all(np.diff(picked, axis=1) <= 0)
    with pytest.raises(ValueError, match="`n`"):
        half.predict_n(images, n=6)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.zeros((32, 32, 3), np.float32), ValueError, "rank 4"),
        (np.zeros((2, 32, 32, 1), np.float32), ValueError, "3 channel"),
        (np.full((1, 32, 32, 3), np.nan, np.float32), ValueError, "NaN"),
        (np.full((1, 32, 32, 3), 255.0, np.float32), ValueError, r"\[0, 1\]"),
        (np.array([["a"]]), TypeError, "uint8 or float"),
        (np.zeros((0, 32, 32, 3), np.float32), ValueError, "empty"),
    ],
)
def test_bad_images_raise_clear_errors(half, bad, exc, match):
    with pytest.raises(exc, match=match):
        half.cam(bad)


def test_bad_class_index(half, images):
    with pytest.raises(ValueError, match=r"custom_class.*out of range \[0, 4\]"):
        half.cam(images, custom_class=5)
    with pytest.raises(ValueError, match="custom_class.*3 entries"):
        half.cam(images, custom_class=[0, 1, 2])
    with pytest.raises(TypeError, match="custom_class"):
        half.cam(images, custom_class=1.5)


def test_save_load_roundtrip(half, images, tmp_path):
    path = half.save(tmp_path / "half.keras")
    loaded = HalfModel.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(images), half.predict_proba(images))
    np.testing.assert_array_equal(loaded.cam(images), half.cam(images))
    with pytest.raises(ValueError, match=".keras"):
        half.save(tmp_path / "half.h5")
    with pytest.raises(FileNotFoundError):
        HalfModel.load(tmp_path / "missing.keras")


def _dataset(images, n_classes=5):
    labels = np.arange(len(images)) % n_classes
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)


@pytest.mark.parametrize("objective", ["reconstruct", "align"])
def test_full_model_keeps_classifier_and_freezes_it(half, images, objective):
    fm = FullModel(half, objective=objective)
    assert check_weights(half, fm) == []
    _, low_h = half.predict_proba(images), half.cam(images, normalize=False)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in fm.model.layers}
    fit_full_model(fm, _dataset(images), epochs=2, verbose=0)
    # classifier layers bit-identical (batch-norm statistics included), expansion path changed
    assert check_weights(half, fm) == []
    changed = [
        n
        for n, w in before.items()
        if any(not np.array_equal(a, b) for a, b in zip(w, fm.model.get_layer(n).get_weights()))
    ]
    assert changed and all(n not in {layer.name for layer in half.model.layers} for n in changed)
    high, low, probs = fm.generate_cams(images, normalize=False)
    np.testing.assert_array_equal(probs, half.predict_proba(images))
    np.testing.assert_allclose(low, low_h, rtol=1e-5, atol=1e-6)
    assert high.shape == (6, 32, 32)


def test_align_objective_ties_high_res_to_low_res(half, images):
    fm = FullModel(half, objective="align")

    def mismatch():
        high, low, _ = fm.generate_cams(images, custom_class=np.tile(np.arange(5), (6, 1)), normalize=False)
        pooled = tf.nn.avg_pool2d(tf.reshape(high, (-1, 32, 32, 1)), 4, 4, "VALID").numpy().reshape(low.shape)
        return float(np.mean((pooled - low) ** 2))

    start = mismatch()
    fit_full_model(fm, _dataset(images), epochs=15, verbose=0, learning_rate=1.0, align_weight=10.0)
    assert mismatch() < 0.5 * start


def test_full_model_roundtrip_and_requests_of_other_sizes(half, images, tmp_path):
    fm = FullModel(half)
    fm2 = FullModel.load(fm.save(tmp_path / "full.keras"))
    assert fm2.objective == "reconstruct"
    for a, b in zip(fm.generate_cams(images), fm2.generate_cams(images)):
        np.testing.assert_array_equal(a, b)
    # a request at another size is resized in the graph; the high-res map comes back at that size
    big = tf.image.resize(images, (48, 40)).numpy().clip(0, 1)
    high, low, _ = fm.generate_cams(big)
    assert high.shape == (6, 48, 40) and low.shape == (6, 8, 8)
    assert HalfModel.load(tmp_path / "full.keras").num_classes == 5


def test_full_model_rejects_backbone_half_models():
    inner = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, padding="same")])
    hm = HalfModel(num_classes=3, input_shape=(32, 32, 3), backbone=inner)
    assert hm.cam_shape == (32, 32)
    with pytest.raises(ValueError, match="DenseNet-FCN"):
        FullModel(hm)
    with pytest.raises(ValueError, match="objective"):
        FullModel(num_classes=3, input_shape=(32, 32, 3), objective="magic")


def test_config_recovered_from_saved_model(half, tmp_path):
    loaded = HalfModel.load(half.save(tmp_path / "h.keras"))
    assert loaded.config == TINY
    assert HalfModel(num_classes=3, input_shape=(64, 64, 3)).config == DenseNetFCNConfig()
    assert check_weights(FullModel(loaded), half) == []


def test_keras_applications_backbone_and_preprocessing(tmp_path, images):
    from hrcam.models import PixelPreprocessing

    hm = HalfModel(num_classes=4, input_shape=(32, 32, 3), backbone="mobilenet_v2", weights=None)
    assert hm.model.get_layer("preprocess").mode == "tf"
    cam, probs = hm.generate_cams(images)
    assert cam.shape == (6, 1, 1) and probs.shape == (6, 4)
    loaded = HalfModel.load(hm.save(tmp_path / "m.keras"))
    np.testing.assert_allclose(loaded.predict_proba(images), probs, rtol=1e-5, atol=1e-6)
    x = tf.constant([[[[0.0, 0.5, 1.0]]]])
    np.testing.assert_allclose(PixelPreprocessing("tf")(x).numpy().ravel(), [-1, 0, 1])
    caffe = PixelPreprocessing("caffe")(x).numpy().ravel()
    np.testing.assert_allclose(caffe, [255 - 103.939, 127.5 - 116.779, 0 - 123.68], rtol=1e-5)
    with pytest.raises(ValueError, match="mode"):
        PixelPreprocessing("bgr")
    with pytest.raises(ValueError, match="not a keras.applications model"):
        HalfModel(num_classes=4, input_shape=(32, 32, 3), backbone="resnet9000")


def test_classifier_of_gives_the_plain_single_output_classifier(half, images):
    fm = FullModel(half)
    assert classifier_of(half) is half.model
    assert classifier_of(fm) is fm.half_model.model is classifier_of(fm)  # built once, shared layers
    assert classifier_of(half.model) is half.model
    old_full = classifier_of(fm.model)  # a dict-output graph (a FullModel file of an earlier release)
    assert old_full.output.shape[-1] == 5 and old_full.get_layer("logits") is fm.get_layer("logits")
    probs = half.predict_proba(images)
    for clf in (classifier_of(half), classifier_of(fm), old_full):
        np.testing.assert_allclose(clf(images, training=False).numpy(), probs, atol=1e-5)
    with pytest.raises(TypeError, match="keras.Model"):
        classifier_of("model.keras")
    inp = keras.Input((4,))
    with pytest.raises(ValueError, match="probabilities"):
        classifier_of(keras.Model(inp, {"a": keras.layers.Dense(2)(inp), "b": keras.layers.Dense(3)(inp)}))
