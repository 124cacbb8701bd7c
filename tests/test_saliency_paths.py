"""COSE's remaining sources against known answers: Blur IG's completeness, Guided IG = IG on a linear model,
LIME recovering a linear model's weights over superpixels; the blur they rely on against scipy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hrcam import sources
from hrcam.saliency import LIME, BlurIG, GuidedIG, IntegratedGradients
from hrcam.saliency.blur import blur_images, blur_matrix
from hrcam.saliency.lime import superpixels, weighted_ridge


def smooth_model(size: int = 16, seed: int = 7) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(4, 3, activation="tanh", name="conv")(inp)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(h))


def linear_model(size: int = 8, classes: int = 3, seed: int = 2) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    return keras.Model(inp, keras.layers.Dense(classes, name="out")(keras.layers.Flatten()(inp)))


def scores(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Pre-softmax scores (what the maps explain)."""
    dense = model.get_layer("out")
    sub = keras.Model(model.input, dense.input)
    return sub(x).numpy() @ dense.kernel.numpy() + dense.bias.numpy()


def test_blur_matrix_is_scipys_reflected_gaussian():
    from scipy.ndimage import gaussian_filter, gaussian_filter1d

    v = np.random.default_rng(0).random(13)
    for sigma in (0.0, 0.7, 3.0, 50.0):
        want = v if sigma == 0 else gaussian_filter1d(v, sigma, mode="reflect", truncate=4.0)
        np.testing.assert_allclose(blur_matrix(13, sigma) @ v, want, atol=1e-12)
    x = np.random.default_rng(1).random((2, 9, 7, 3)).astype(np.float32)
    got = blur_images(x, [0.0, 2.5]).numpy()
    np.testing.assert_allclose(got[:, 0], x, atol=1e-6)
    want = np.stack([gaussian_filter(img, sigma=(2.5, 2.5, 0), mode="reflect") for img in x])
    np.testing.assert_allclose(got[:, 1], want, atol=1e-5)


def test_blur_ig_completeness():
    """The attributions sum to S_c(x) - S_c(blur(x, max_sigma)), the error shrinking with the steps."""
    model = smooth_model()
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    far = blur_images(x, [10.0, np.sqrt(10.0)]).numpy()
    for sqrt, end in ((False, 0), (True, 1)):
        want = scores(model, x)[:, 1] - scores(model, far[:, end])[:, 1]
        errors = []
        for steps in (8, 256):
            blur_ig = BlurIG(model, steps=steps, max_sigma=10.0, sqrt=sqrt, normalize=False)
            preds, maps = blur_ig(x, target_class=1)
            np.testing.assert_allclose(preds, model(x).numpy(), atol=1e-6)  # the path starts at the image
            errors.append(np.abs(maps.sum(axis=(1, 2)) - want))
        assert np.all(errors[1] < errors[0]), (sqrt, errors)
        assert np.all(errors[1] <= 0.05 * np.abs(want) + 1e-3), (sqrt, errors, want)


def test_guided_ig_equals_ig_on_a_linear_model():
    model = linear_model()
    x = np.random.default_rng(3).random((2, 8, 8, 3)).astype(np.float32)
    targets = np.array([[0, 2], [1, 1]])
    for baseline in (0.0, np.full((8, 8, 3), 0.5, np.float32)):
        kw = {"normalize": False, "channel_reduce": "none", "baseline": baseline}
        _, ig = IntegratedGradients(model, steps=2, **kw)(x, target_class=targets)
        _, gig = GuidedIG(model, steps=10, **kw)(x, target_class=targets)
        kernel = model.get_layer("out").kernel.numpy().reshape(8, 8, 3, 3)
        want = np.stack([[(x[b] - baseline) * kernel[..., c] for c in targets[b]] for b in range(2)])
        np.testing.assert_allclose(ig, want, atol=1e-5)
        np.testing.assert_allclose(gig, want, atol=1e-5)


def test_guided_ig_path_ends_at_the_image():
    """On a non-linear model the attributions still sum to about S_c(x) - S_c(baseline)."""
    model = smooth_model(size=8, seed=4)
    x = np.random.default_rng(4).random((2, 8, 8, 3)).astype(np.float32)
    _, maps = GuidedIG(model, steps=64, normalize=False)(x, target_class=0)
    want = scores(model, x)[:, 0] - scores(model, np.zeros_like(x))[:, 0]
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), want, rtol=0.1, atol=0.02)


def linear_over_cells(weights: np.ndarray, bias: np.ndarray) -> keras.Model:
    """Scores = sum_s weights[s, c] * (mean of cell s) + bias: a linear model over 4 x 4 cells of 4 x 4 px."""
    inp = keras.Input((16, 16, 3))
    h = keras.layers.AveragePooling2D(4)(inp)  # (4, 4, 3) cell means
    h = keras.layers.Conv2D(1, 1, use_bias=False, name="gray")(h)
    out = keras.layers.Dense(weights.shape[1], name="out")(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    model.get_layer("gray").set_weights([np.full((1, 1, 3, 1), 1 / 3, np.float32)])
    model.get_layer("out").set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    return model


def test_lime_recovers_a_linear_models_weights_over_superpixels():
    rng = np.random.default_rng(5)
    weights, bias = rng.normal(size=(16, 2)), rng.normal(size=2)
    model = linear_over_cells(weights, bias)
    x = np.ones((1, 16, 16, 3), np.float32)
    lime = LIME(model, samples=300, segmentation="grid", n_segments=16, hide_color=0.0, alpha=1e-6,
                normalize=False)  # fmt: skip
    _, maps = lime(x, target_class=[[0, 1]])
    for c in range(2):
        want = np.kron(weights[:, c].reshape(4, 4), np.ones((4, 4)))
        np.testing.assert_allclose(maps[0, c], want, atol=1e-4)


def test_lime_is_seeded_and_runs_on_scikit_image_superpixels():
    model = smooth_model(size=64)
    rng = np.random.default_rng(6)
    blocks = np.kron(rng.random((2, 4, 4, 3)), np.ones((1, 16, 16, 1)))  # 16 flat 16 x 16 blocks
    x = np.clip(blocks + rng.normal(0, 0.01, blocks.shape), 0, 1).astype(np.float32)
    for method in ("quickshift", "slic", "felzenszwalb", "grid"):
        seg = superpixels(x[0], method, n_segments=16)
        assert seg.shape == (64, 64) and np.array_equal(np.unique(seg), np.arange(seg.max() + 1))
        assert 8 <= seg.max() + 1 <= 24, (method, seg.max() + 1)  # about one superpixel a block
    a = sources.get("lime:samples=24,seed=3", model).run(x).maps  # quickshift, lime's default
    b = sources.get("lime:samples=24,seed=3", model).run(x).maps
    c = sources.get("lime:samples=24,seed=4", model).run(x).maps
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and a.shape == (2, 64, 64) and a.max() == 1
    np.testing.assert_array_equal(superpixels(x[0], lambda im: (im[..., 0] > 0.5) * 7), x[0, ..., 0] > 0.5)
    with pytest.raises(ValueError, match="segmentation"):
        LIME(model, segmentation="watershed")
    assert not LIME(model).traceable


def test_weighted_ridge_matches_the_normal_equations():
    rng = np.random.default_rng(7)
    z, y, w = rng.integers(0, 2, (40, 5)).astype(float), rng.normal(size=(40, 2)), rng.random(40)
    coef = weighted_ridge(z, y, w, 0.5)
    # sklearn's Ridge with sample_weight: minimise sum w (y - z b - c)^2 + 0.5 |b|^2 (intercept c free)
    design = np.hstack([z, np.ones((40, 1))])
    reg = np.diag([0.5] * 5 + [0.0])
    full = np.linalg.solve(design.T @ (design * w[:, None]) + reg, design.T @ (y * w[:, None]))
    np.testing.assert_allclose(coef, full[:5], atol=1e-10)
