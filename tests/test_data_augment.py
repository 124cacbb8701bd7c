"""Augmentation: RandomApply (per-image, batched), the paper's affine + flip, units, tf.data, saving."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.data.augment import RandomApply, paper_augmentation, shear_factor
from hrcam.data.pipeline import from_arrays


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.random.default_rng(0).random((16, 24, 24, 3)).astype(np.float32)


def _changed(a, b) -> np.ndarray:
    return np.any(np.abs(np.asarray(a) - np.asarray(b)) > 1e-6, axis=tuple(range(1, np.ndim(a))))


def test_random_apply_rates(batch):
    half = keras.layers.Rescaling(0.5)
    np.testing.assert_array_equal(RandomApply(half, rate=0.0)(batch), batch)  # rate 0: identity
    np.testing.assert_allclose(RandomApply(half, rate=1.0)(batch), 0.5 * batch)  # rate 1: always
    x = np.tile(batch, (4, 1, 1, 1))  # 64 images
    out = RandomApply(half, rate=0.5, seed=3)(x).numpy()
    applied = np.all(np.isclose(out, 0.5 * x), axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(applied ^ kept)  # each image either fully transformed or untouched
    assert 10 < applied.sum() < 54  # a per-image choice, not one coin for the batch
    np.testing.assert_array_equal(RandomApply(half, rate=1.0)(batch, training=False), batch)
    single = RandomApply(half, rate=1.0)(batch[0])  # unbatched image
    assert single.shape == batch[0].shape


def test_random_apply_seed_and_errors(batch):
    x = np.tile(batch, (4, 1, 1, 1))
    a = RandomApply(keras.layers.Rescaling(0.5), rate=0.5, seed=7)(x)
    b = RandomApply(keras.layers.Rescaling(0.5), rate=0.5, seed=7)(x)
    c = RandomApply(keras.layers.Rescaling(0.5), rate=0.5, seed=8)(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="rate"):
        RandomApply(keras.layers.Rescaling(0.5), rate=1.5)
    with pytest.raises(TypeError, match="layer"):
        RandomApply("flip")


def test_paper_augmentation_shape_range_and_change(batch):
    aug = paper_augmentation(seed=1)
    out = aug(batch)
    assert out.shape == batch.shape and out.dtype == tf.float32
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    assert _changed(out, batch).mean() > 0.5  # affine (p .5) or flip (p .5): ~75% change
    np.testing.assert_array_equal(aug(batch, training=False), batch)
    always = paper_augmentation(seed=2, rate=1.0, flip=False)(batch)
    assert _changed(always, batch).all()  # rotation +-180 degrees etc. moves every image


def test_flip_only_is_an_exact_mirror(batch):
    out = paper_augmentation(seed=0, rate=0.0)(np.tile(batch, (2, 1, 1, 1))).numpy()
    x = np.tile(batch, (2, 1, 1, 1))
    same = np.all(out == x, axis=(1, 2, 3))
    mirrored = np.all(np.isclose(out, x[:, :, ::-1]), axis=(1, 2, 3))
    assert np.all(same | mirrored) and 0 < mirrored.sum() < len(x)


def test_paper_augmentation_seeded_determinism(batch):
    a = paper_augmentation(seed=5)(batch)
    b = paper_augmentation(seed=5)(batch)
    c = paper_augmentation(seed=6)(batch)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_units_shear_rotation_zoom():
    assert shear_factor(5.0) == pytest.approx(math.tan(math.radians(5.0))) == pytest.approx(0.08749, abs=1e-5)
    layers = {type(la).__name__: la for la in paper_augmentation().layers[0].layer.layers}
    assert layers["RandomRotation"].get_config()["factor"] == (-0.5, 0.5)  # +-0.5 turn = +-180 degrees
    assert layers["RandomShear"].x_factor == pytest.approx((0.0, 0.08749), abs=1e-5)
    zoom = layers["RandomZoom"].get_config()["height_factor"]
    assert 1 / (1 + zoom[0]) == pytest.approx(1.1) and 1 / (1 + zoom[1]) == pytest.approx(0.9)
    assert layers["RandomTranslation"].get_config()["height_factor"] == 0.2
    assert all(la.fill_mode == "constant" and la.fill_value == 0.0 for la in layers.values())
    # Known answer: a vertical line sheared with the factor for 5 degrees tilts by 5 degrees.
    h = 64
    img = np.zeros((1, h, h, 1), np.float32)
    img[:, :, 32] = 1.0
    out = keras.layers.RandomShear(x_factor=(0.0, shear_factor(5.0)), seed=0, interpolation="nearest")
    # Shears are drawn uniformly in [-f, f]: over 40 draws the largest tilt is close to 5 degrees, none above.
    tilts = []
    for _ in range(40):
        sheared = out(img).numpy()[0, :, :, 0]
        top, bottom = np.argmax(sheared[2]), np.argmax(sheared[h - 3])
        tilts.append(math.degrees(math.atan(abs(int(top) - int(bottom)) / (h - 5))))
    assert max(tilts) == pytest.approx(5.0, abs=1.0)


def test_inside_tf_data_and_deterministic_pipeline(batch):
    labels = np.arange(16) % 3
    images = (batch * 255).astype(np.uint8)

    def run(seed):
        ds = from_arrays(images, labels, 4, augment=paper_augmentation(seed=seed))
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
        return np.concatenate(xs), np.concatenate(ys)

    x1, y1 = run(3)
    x2, _ = run(3)
    assert x1.shape == batch.shape and x1.dtype == np.float32 and 0 <= x1.min() and x1.max() <= 1
    np.testing.assert_array_equal(y1, labels)
    np.testing.assert_array_equal(x1, x2)  # seeded layers, sequential augmentation: reproducible
    assert _changed(x1, images / 255.0).mean() > 0.4
    # A plain map over batches works too.
    out = tf.data.Dataset.from_tensor_slices(batch).batch(8).map(RandomApply(keras.layers.RandomFlip(), 1.0))
    assert [b.shape[0] for b in out] == [8, 8]


def test_config_roundtrip_and_keras_saving(tmp_path, batch):
    layer = RandomApply(keras.layers.RandomFlip("horizontal", seed=1), rate=0.3, seed=4)
    clone = RandomApply.from_config(layer.get_config())
    assert clone.rate == 0.3 and clone.seed == 4 and isinstance(clone.layer, keras.layers.RandomFlip)
    model = keras.Sequential(
        [keras.Input((24, 24, 3)), paper_augmentation(seed=0), keras.layers.Conv2D(2, 3)]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(batch, training=False), model(batch, training=False), atol=1e-6)
