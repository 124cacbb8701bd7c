"""Saliency methods against known answers: hand computations, finite differences, completeness, identities."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.ops import normalize_maps, resize_maps
from hrcam.saliency import (
    CAM,
    GradCAM,
    GradCAMPlusPlus,
    Gradients,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    LayerCAM,
    SmoothGrad,
    saliency,
)


def gap_dense_model(seed: int = 0, size: int = 12) -> keras.Model:
    """conv(relu) -> conv 'feat' (linear) -> GAP -> Dense 'logits' -> Softmax."""
    keras.utils.set_random_seed(seed)
    bias = keras.initializers.RandomNormal(stddev=0.2)  # non-zero biases: not positively homogeneous
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", bias_initializer=bias, name="c1")(inp)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(5, 3, padding="same", bias_initializer=bias, name="feat")(h)
    g = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    logits = keras.layers.Dense(4, bias_initializer=bias, name="logits")(g)
    return keras.Model(inp, keras.layers.Softmax(name="probabilities")(logits))


@pytest.fixture(scope="module")
def gap_model() -> keras.Model:
    return gap_dense_model()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.RandomState(1).rand(3, 12, 12, 3).astype(np.float32)


def features_of(model: keras.Model, name: str, x: np.ndarray) -> np.ndarray:
    return keras.Model(model.input, model.get_layer(name).output)(x).numpy()


# --------------------------------------------------------------------------------------------- CAM family


def test_cam_raw_is_features_times_dense_kernel(gap_model, images):
    targets = np.array([[0, 3], [1, 1], [2, 0]])
    _, raw = CAM(gap_model, normalize=False, upsample=False)(images, target_class=targets)
    feats = features_of(gap_model, "feat", images)  # (3, 6, 6, 5)
    kernel = gap_model.get_layer("logits").kernel.numpy()  # (5, 4)
    want = np.stack([np.einsum("hwk,kj->jhw", feats[b], kernel[:, targets[b]]) for b in range(3)])
    assert raw.shape == (3, 2, 6, 6)
    np.testing.assert_allclose(raw, want, rtol=1e-5, atol=1e-5)


def test_gradcam_equals_cam_on_gap_dense(gap_model, images):
    cam = CAM(gap_model, relu=True)
    grad = GradCAM(gap_model)
    assert grad.layer_name == "feat"
    for target in (None, 2, [0, 1, 3]):
        p1, m1 = cam(images, target_class=target)
        p2, m2 = grad(images, target_class=target)
        np.testing.assert_allclose(p1, p2, atol=1e-6)
        np.testing.assert_allclose(m1, m2, atol=1e-5)
    assert m2.shape == (3, 12, 12) and m2.min() == 0.0 and m2.max() == 1.0
    # raw Grad-CAM = relu(CAM) / (h * w): the gradient of a GAP + Dense score is kernel[:, c] / (h * w)
    _, raw_cam = CAM(gap_model, relu=True, normalize=False, upsample=False)(images, target_class=1)
    _, raw_grad = GradCAM(gap_model, normalize=False, upsample=False)(images, target_class=1)
    np.testing.assert_allclose(raw_grad, raw_cam / 36.0, rtol=1e-5, atol=1e-6)


def test_negative_class_in_the_traced_core_means_the_predicted_class(gap_model, images):
    # The models' maps_fn and the serving `explain` signature pass -1 for "this image's predicted class".
    grad = GradCAM(gap_model, normalize=False, upsample=False)
    x = tf.constant(images)
    preds, _, grads_mixed = grad._features_and_grads(x, tf.constant([[-1], [2], [-1]]))
    predicted = np.argmax(preds.numpy(), axis=-1)
    explicit = tf.constant([[predicted[0]], [2], [predicted[2]]], tf.int32)
    _, _, grads_explicit = grad._features_and_grads(x, explicit)
    np.testing.assert_array_equal(grads_mixed.numpy(), grads_explicit.numpy())
    assert not np.array_equal(grads_mixed.numpy()[1], grad._features_and_grads(x, explicit * 0)[2].numpy()[1])


def test_layercam_and_gradcam_plus_plus_hand_computation(gap_model, images):
    feats = features_of(gap_model, "feat", images).astype(np.float64)  # (3, 6, 6, 5)
    kernel = gap_model.get_layer("logits").kernel.numpy().astype(np.float64)
    c = 2
    g = kernel[:, c] / 36.0  # dS_c/dA_ijk, the same at every position
    layer_want = np.maximum(np.einsum("bhwk,k->bhw", feats, np.maximum(g, 0)), 0)
    s = feats.sum(axis=(1, 2))  # (3, 5)
    denom = 2 * g**2 + s * g**3
    alpha = np.where(denom != 0, g**2 / np.where(denom != 0, denom, 1), 0)
    w = 36.0 * alpha * np.maximum(g, 0)  # (3, 5)
    pp_want = np.maximum(np.einsum("bhwk,bk->bhw", feats, w), 0)
    _, layer_raw = LayerCAM(gap_model, normalize=False, upsample=False)(images, target_class=c)
    _, pp_raw = GradCAMPlusPlus(gap_model, normalize=False, upsample=False)(images, target_class=c)
    np.testing.assert_allclose(layer_raw, layer_want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pp_raw, pp_want, rtol=1e-4, atol=1e-6)
    _, pp = GradCAMPlusPlus(gap_model)(images, target_class=c)
    np.testing.assert_allclose(
        pp, normalize_maps(resize_maps(pp_want.astype(np.float32), (12, 12))), atol=1e-5
    )


def test_gradcam_matches_reference_recipe_with_a_nonlinear_head(images):
    """A VGG-style head (Flatten -> Dense relu -> Dense) against the textbook sub-model + tape recipe."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.Dense(7, activation="relu")(keras.layers.Flatten()(a))
    out = keras.layers.Dense(3, activation="softmax", name="out")(h)
    model = keras.Model(inp, out)
    sub = keras.Model(inp, [a, h])
    dense = model.get_layer("out")
    feats, hidden = sub(tf.constant(images))
    top = tf.argmax(hidden @ dense.kernel + dense.bias, axis=-1)  # predicted class from pre-softmax scores
    # recompute through the head with the watched features
    with tf.GradientTape() as tape:
        tape.watch(feats)
        hidden = model.layers[-2](model.layers[-3](feats))
        score = tf.reduce_sum(tf.gather(hidden @ dense.kernel + dense.bias, top, batch_dims=1))
    g = tape.gradient(score, feats).numpy()
    want = np.maximum(np.einsum("bhwk,bk->bhw", feats.numpy(), g.mean(axis=(1, 2))), 0)
    _, raw = GradCAM(model, normalize=False)(images)
    np.testing.assert_allclose(raw, want, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------------ guided backprop


def two_layer_relu(kind: str, seed: int = 5) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4, 4, 1))
    h = keras.layers.Flatten()(inp)
    if kind == "fused":
        h = keras.layers.Dense(6, activation="relu", name="hidden")(h)
    elif kind == "relu_layer":
        h = keras.layers.ReLU()(keras.layers.Dense(6, name="hidden")(h))
    else:
        h = keras.layers.Activation("relu")(keras.layers.Dense(6, name="hidden")(h))
    return keras.Model(inp, keras.layers.Dense(3, name="out")(h))


@pytest.mark.parametrize("kind", ["fused", "relu_layer", "activation_layer"])
def test_guided_backprop_two_layer_relu_hand_computation(kind):
    model = two_layer_relu(kind)
    x = np.random.RandomState(2).rand(4, 4, 4, 1).astype(np.float32)
    w1, b1 = (v.numpy() for v in model.get_layer("hidden").weights)
    w2 = model.get_layer("out").kernel.numpy()
    cls = np.array([0, 1, 2, 1])
    z = x.reshape(4, 16) @ w1 + b1  # (4, 6) pre-activations
    g_top = w2[:, cls].T  # (4, 6): dS/dh
    guided = (np.maximum(g_top, 0) * (z > 0)) @ w1.T  # guided ReLU: relu(dy) * 1[z > 0]
    plain = (g_top * (z > 0)) @ w1.T
    assert not np.allclose(guided, plain)  # the hand-picked weights make the two differ
    _, gb = GuidedBackprop(model, normalize=False, channel_reduce="sum")(x, target_class=cls)
    _, gr = Gradients(model, normalize=False, channel_reduce="sum")(x, target_class=cls)
    np.testing.assert_allclose(gb.reshape(4, 16), guided, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gr.reshape(4, 16), plain, rtol=1e-5, atol=1e-6)


def test_guided_relu6_masks_both_ends():
    """ReLU6 (MobileNet): the guided gradient is relu(dy) * 1[0 < z < 6]."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((2, 2, 1))
    h = keras.layers.Dense(4, name="hidden")(keras.layers.Flatten()(inp))
    out = keras.layers.Dense(2, name="out")(keras.layers.ReLU(max_value=6.0)(h))
    model = keras.Model(inp, out)
    model.get_layer("hidden").set_weights(
        [np.array([[20.0, 1, -1, 2]] * 4, np.float32), np.zeros(4, np.float32)]
    )
    model.get_layer("out").set_weights(
        [np.array([[1.0, 0], [1, 0], [1, 0], [-1, 0]], np.float32), np.zeros(2)]
    )
    x = np.full((1, 2, 2, 1), 0.5, np.float32)  # z = [40, 2, -2, 4]: saturated, active, off, active
    _, gb = GuidedBackprop(model, normalize=False, channel_reduce="sum")(x, target_class=0)
    # only unit 1 passes (unit 0 saturated, unit 2 off, unit 3 has a negative gradient)
    np.testing.assert_allclose(gb.ravel(), np.full(4, 1.0), atol=1e-6)


# ------------------------------------------------------------------------------- input gradients


def smooth_softmax_model() -> keras.Model:
    keras.utils.set_random_seed(7)
    inp = keras.Input((5, 5, 2))
    h = keras.layers.Conv2D(4, 3, activation="tanh", name="conv")(inp)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(h))


def _finite_difference(fn, x: np.ndarray, cls: int, eps: float = 1e-2) -> np.ndarray:
    """Central differences of fn(x)[:, cls] for every input coordinate of one image x (1, ...)."""
    n = x.size
    eye = np.eye(n, dtype=np.float64).reshape((n,) + x.shape[1:]) * eps
    plus = fn((x.astype(np.float64) + eye).astype(np.float32))[:, cls]
    minus = fn((x.astype(np.float64) - eye).astype(np.float32))[:, cls]
    return ((plus.astype(np.float64) - minus) / (2 * eps)).reshape(x.shape[1:])


def test_gradients_agree_with_finite_differences_on_logits_and_probabilities():
    model = smooth_softmax_model()
    dense = model.get_layer("out")
    flat = keras.Model(model.input, dense.input)

    def logits(v):
        return (flat(v).numpy() @ dense.kernel.numpy()) + dense.bias.numpy()

    def probs(v):
        return model(v).numpy()

    x = np.random.RandomState(4).uniform(0.2, 0.8, (1, 5, 5, 2)).astype(np.float32)
    for cls in (0, 2):
        _, g = Gradients(model, normalize=False, channel_reduce="none")(x, target_class=cls)
        np.testing.assert_allclose(g[0], _finite_difference(logits, x, cls), rtol=2e-2, atol=2e-4)
        _, gp = Gradients(model, normalize=False, channel_reduce="none", use_logits=False)(
            x, target_class=cls
        )
        np.testing.assert_allclose(gp[0], _finite_difference(probs, x, cls), rtol=2e-2, atol=2e-5)
    # default reduction is max |g| over channels
    _, m = Gradients(model, normalize=False)(x, target_class=0)
    _, g = Gradients(model, normalize=False, channel_reduce="none")(x, target_class=0)
    np.testing.assert_allclose(m, np.abs(g).max(axis=-1), atol=1e-7)


@pytest.mark.parametrize("baseline", [0.0, "white"])
def test_integrated_gradients_completeness(gap_model, images, baseline):
    """sum of attributions = S(x) - S(baseline) within 1% (pre-softmax scores, trapezoid rule, 256 steps)."""
    pre = keras.Model(gap_model.input, gap_model.get_layer("logits").output)
    ig = IntegratedGradients(gap_model, steps=256, baseline=baseline, normalize=False, batch_size=768)
    cls = np.array([0, 1, 2])
    _, attr = ig(images, target_class=cls)
    base = np.full_like(images, 0.0 if baseline == 0.0 else 1.0)
    diff = pre(images).numpy()[np.arange(3), cls] - pre(base).numpy()[np.arange(3), cls]
    total = attr.sum(axis=(1, 2))
    assert np.all(np.abs(total - diff) <= 0.01 * np.abs(diff)), (total, diff)
    # too few steps is measurably worse, so the check above is not vacuous
    _, coarse = IntegratedGradients(gap_model, steps=4, baseline=baseline, normalize=False)(
        images, target_class=cls
    )
    assert np.max(np.abs(coarse.sum(axis=(1, 2)) - diff) / np.abs(diff)) > 0.01


def test_integrated_gradients_right_rule_exact_on_bias_free_relu_network():
    """A bias-free ReLU network is positively homogeneous: the gradient is constant along the path from 0."""
    keras.utils.set_random_seed(2)
    inp = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, activation="relu", use_bias=False)(inp)
    out = keras.layers.Dense(3, use_bias=False, name="out")(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    x = np.random.RandomState(3).rand(2, 6, 6, 2).astype(np.float32)
    _, attr = IntegratedGradients(model, steps=3, rule="right", normalize=False)(x, target_class=1)
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), model(x).numpy()[:, 1], rtol=1e-4)


def test_integrated_gradients_linear_model_is_exact():
    keras.utils.set_random_seed(0)
    inp = keras.Input((3, 3, 2))
    model = keras.Model(inp, keras.layers.Dense(2, name="lin")(keras.layers.Flatten()(inp)))
    w = model.get_layer("lin").kernel.numpy()
    x = np.random.RandomState(0).rand(2, 3, 3, 2).astype(np.float32)
    base = np.full((3, 3, 2), 0.25, np.float32)
    _, attr = IntegratedGradients(model, steps=2, baseline=base, channel_reduce="none", normalize=False)(
        x, target_class=1
    )
    np.testing.assert_allclose(attr, (x - base) * w[:, 1].reshape(3, 3, 2), rtol=1e-5, atol=1e-7)


def test_smoothgrad_without_noise_is_gradients_and_is_reproducible(gap_model, images):
    _, g = Gradients(gap_model)(images, target_class=[1, 2, 3])
    _, s = SmoothGrad(gap_model, n_samples=3, noise_level=0.0)(images, target_class=[1, 2, 3])
    np.testing.assert_allclose(s, g, atol=1e-5)
    a = SmoothGrad(gap_model, n_samples=4, seed=11)(images)[1]
    b = SmoothGrad(gap_model, n_samples=4, seed=11)(images)[1]
    c = SmoothGrad(gap_model, n_samples=4, seed=12)(images)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, g, atol=1e-3)


# ---------------------------------------------------------------------------------- guided Grad-CAM


@pytest.mark.parametrize("head", ["gap", "relu_head"])
def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam(head, gap_model, images):
    if head == "gap":
        model = gap_model
    else:  # ReLUs after the layer: the Grad-CAM part must use plain gradients (second pass)
        keras.utils.set_random_seed(9)
        inp = keras.Input((12, 12, 3))
        a = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv")(inp)
        h = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(a))
        model = keras.Model(inp, keras.layers.Dense(3, name="out")(h))
    targets = [[0, 1], [2, 2], [1, 0]]
    _, gb = GuidedBackprop(model, normalize=False)(images, target_class=targets)
    _, gc = GradCAM(model, normalize=False)(images, target_class=targets)
    _, ggc = GuidedGradCAM(model, normalize=False)(images, target_class=targets)
    np.testing.assert_allclose(ggc, gb * gc, rtol=1e-4, atol=1e-6)
    _, ggc_norm = GuidedGradCAM(model)(images, target_class=targets)
    np.testing.assert_allclose(ggc_norm, normalize_maps(gb * gc, batch_dims=2).numpy(), atol=1e-5)


# ------------------------------------------------------------------------------- k classes per call

METHODS = ["CAM", "GradCAM", "GradCAM++", "LayerCAM", "Gradients", "GuidedBackprop", "GuidedGradCAM",
           "SmoothGrad", "IntegratedGradients"]  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_k_classes_in_one_call_equal_k_single_calls(method, gap_model, images):
    kwargs = {"SmoothGrad": {"n_samples": 3, "seed": 3}, "IntegratedGradients": {"steps": 4}}.get(method, {})
    explainer = saliency(gap_model, method, **kwargs)
    targets = np.array([[3, 0, 1], [1, 1, 2], [0, 2, 3]])
    preds, maps = explainer(images, target_class=targets)
    assert maps.shape == (3, 3, 12, 12)
    for j in range(3):
        p1, m1 = explainer(images, target_class=targets[:, j])
        np.testing.assert_allclose(p1, preds, atol=1e-6)
        np.testing.assert_allclose(maps[:, j], m1, atol=2e-5)
