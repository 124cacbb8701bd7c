"""The Explainer's optimised-mask baselines: Extremal Perturbations and iGOS++ find the region a model's score
depends on, per class; the area constraint holds; the mask generator and area penalty by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam import sources
from hrcam.saliency import ExtremalPerturbation, IGOSPlusPlus
from hrcam.saliency.extremal_perturbation import area_penalty, smooth_masks

SIZE = 16
#: class c's score is the mean grey level inside REGIONS[c] (rows, cols): nothing else matters
REGIONS = ((slice(2, 8), slice(8, 14)), (slice(9, 15), slice(1, 7)))


def region_mask(c: int) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), bool)
    m[REGIONS[c]] = True
    return m


@pytest.fixture(scope="module")
def region_model() -> keras.Model:
    inp = keras.Input((SIZE, SIZE, 3))
    out = keras.layers.Dense(2, name="out")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, out)
    kernel = np.stack([np.repeat(region_mask(c)[..., None], 3, -1).ravel() for c in (0, 1)], -1)
    model.get_layer("out").set_weights([(kernel / kernel.sum(0)).astype(np.float32), np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.4, 1.0, (2, SIZE, SIZE, 3)).astype(np.float32)


def test_extremal_perturbation_finds_the_region_with_the_area_asked(region_model, images):
    area = 36 / SIZE**2
    for variant in ("preserve", "delete"):
        ep = ExtremalPerturbation(region_model, areas=(area,), iterations=150, step=1, sigma=1.0,
                                  perturbation="fade", variant=variant, normalize=False)  # fmt: skip
        _, masks = ep(images, target_class=[[0, 1]] * 2)
        assert masks.shape == (2, 2, SIZE, SIZE)
        for c in (0, 1):
            inside, outside = masks[:, c][:, region_mask(c)], masks[:, c][:, ~region_mask(c)]
            assert inside.mean() > 0.75 and outside.mean() < 0.1, (variant, c, inside.mean(), outside.mean())
            np.testing.assert_allclose(masks[:, c].mean(axis=(1, 2)), area, atol=0.04)  # the area constraint


def test_extremal_perturbation_sums_areas_and_blurs(region_model, images):
    ep = ExtremalPerturbation(region_model, areas=(0.1, 0.2), iterations=3, normalize=False)
    assert ep.step == 1 and ep.samples_per_image == 2  # 7 px at 224 scaled to 16 px
    _, maps = ep(images)
    assert maps.shape == (2, SIZE, SIZE) and maps.max() <= 2.0 + 1e-5 and maps.min() >= 0
    with pytest.raises(ValueError, match="areas"):
        ExtremalPerturbation(region_model, areas=(1.5,))
    with pytest.raises(ValueError, match="variant"):
        ExtremalPerturbation(region_model, variant="both")


def test_smooth_masks_and_area_penalty_by_hand():
    params = np.zeros((1, 5, 5), np.float32)
    params[0, 2, 2] = 1.0
    m = smooth_masks(tf.constant(params), (5, 5), sigma=1.0, temperature=1e-3).numpy()[0]
    # one grid point on: the soft max is ~ its Gaussian weight exp(-d^2 / 2) at distance d (hard max limit)
    d2 = (np.arange(5)[:, None] - 2) ** 2 + (np.arange(5)[None] - 2) ** 2
    want = np.exp(-d2 / 2.0)  # every pixel is within the 5 x 5 window (2 sigma) of the centre
    np.testing.assert_allclose(m, want, atol=1e-3)
    masks = tf.constant([[[0.0, 1.0], [1.0, 0.0]], [[0.2, 0.2], [0.2, 0.2]]])
    got = area_penalty(masks, tf.constant([0.5, 0.25])).numpy()
    np.testing.assert_allclose(got, [0.0, (0.04 * 3 + 0.64) / 4], atol=1e-6)


def test_igos_pp_finds_the_region(region_model, images):
    igos = IGOSPlusPlus(region_model, iterations=10, ig_steps=4, perturbation="fade", normalize=False)
    assert igos.grid == (SIZE, SIZE)  # size 28 capped by the image
    _, masks = igos(images, target_class=[[0, 1]] * 2)
    assert masks.shape == (2, 2, SIZE, SIZE) and masks.min() >= 0 and masks.max() <= 1
    for c in (0, 1):
        inside, outside = masks[:, c][:, region_mask(c)], masks[:, c][:, ~region_mask(c)]
        assert inside.mean() > 0.7 and outside.mean() < 0.15, (c, inside.mean(), outside.mean())


def test_optimised_masks_are_seed_free_and_traceable(region_model, images):
    for spec in ("extremal_perturbation:iterations=2", "igos_pp:iterations=1,ig_steps=2,line_steps=2"):
        src = sources.get(spec, region_model)
        a, b = src.run(images).maps, src.run(images).maps
        np.testing.assert_array_equal(a, b)
        fn = tf.function(lambda x, c, s=src: s.compute(x, c).maps)
        np.testing.assert_allclose(fn(tf.constant(images), tf.constant([[-1]] * 2))[:, 0], a, atol=1e-5)
