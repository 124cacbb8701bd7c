"""Saliency methods on different model shapes: nested backbones, Sequential, 3D volumes, subclassed models;
the user's model stays untouched; batching, targets, input conversion and error messages."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.saliency import (
    CAM,
    GradCAM,
    Gradients,
    GuidedBackprop,
    GuidedGradCAM,
    SmoothGrad,
    available_methods,
    get,
    saliency,
)


def nested_model(seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """A functional backbone used as one layer: images -> backbone -> GAP -> Dropout -> Dense -> Softmax."""
    keras.utils.set_random_seed(seed)
    b_in = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", name="bb_conv1")(b_in)
    h = keras.layers.ReLU(name="bb_relu1")(h)
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="bb_conv2")(h)
    h = keras.layers.Conv2D(5, 1, name="bb_feat")(h)
    backbone = keras.Model(b_in, h, name="backbone")
    inp = keras.Input((16, 16, 3))
    g = keras.layers.GlobalAveragePooling2D(name="gap")(backbone(inp))
    logits = keras.layers.Dense(4, name="logits")(keras.layers.Dropout(0.3)(g))
    return keras.Model(inp, keras.layers.Softmax(name="probabilities")(logits), name="outer"), backbone


@pytest.fixture(scope="module")
def nested():
    return nested_model()


@pytest.fixture(scope="module")
def x16() -> np.ndarray:
    return np.random.RandomState(0).rand(4, 16, 16, 3).astype(np.float32)


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


# -------------------------------------------------------------------------------------- nested backbones


def test_nested_backbone_layer_found_and_cam_matches_hand_computation(nested, x16):
    model, backbone = nested
    grad = GradCAM(model)
    assert grad.layer_name == "backbone/bb_feat"
    cam = CAM(model, relu=True)
    assert cam.layer_name == "bb_feat"
    feats = keras.Model(backbone.input, backbone.get_layer("bb_feat").output)(x16).numpy()
    kernel = model.get_layer("logits").kernel.numpy()
    _, raw = CAM(model, normalize=False, upsample=False)(x16, target_class=2)
    np.testing.assert_allclose(raw, feats @ kernel[:, 2], rtol=1e-5, atol=1e-6)
    p1, m1 = cam(x16)
    p2, m2 = grad(x16)
    np.testing.assert_allclose(p1, model.predict(x16, verbose=0), atol=1e-6)
    np.testing.assert_allclose(m1, m2, atol=1e-5)
    # the same layer by name, by path and by object; an inner layer of the backbone by name
    for layer in ("bb_feat", "backbone/bb_feat", backbone.get_layer("bb_feat")):
        np.testing.assert_allclose(GradCAM(model, layer=layer)(x16)[1], m2, atol=1e-6)
    inner = GradCAM(model, layer="bb_relu1")  # (bb_conv2 would give the same map: bb_feat is linear 1x1)
    assert inner.layer_name == "backbone/bb_relu1"
    assert not np.allclose(inner(x16)[1], m2, atol=1e-3)


def test_guided_backprop_nested_equals_flat_model(nested, x16):
    """The same layers wired flat (no nested model) give the same guided gradients."""
    model, backbone = nested
    inp = keras.Input((16, 16, 3))
    h = inp
    for name in ("bb_conv1", "bb_relu1", "bb_conv2", "bb_feat"):
        h = backbone.get_layer(name)(h)
    h = model.get_layer("gap")(h)
    flat = keras.Model(inp, model.get_layer("probabilities")(model.get_layer("logits")(h)))
    targets = [[0, 3]] * 4
    _, nested_gb = GuidedBackprop(model, normalize=False)(x16, target_class=targets)
    _, flat_gb = GuidedBackprop(flat, normalize=False)(x16, target_class=targets)
    _, plain = Gradients(model, normalize=False)(x16, target_class=targets)
    np.testing.assert_allclose(nested_gb, flat_gb, rtol=1e-5, atol=1e-7)
    assert not np.allclose(nested_gb, plain, atol=1e-6)


def test_keras_applications_backbone_as_a_layer():
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35
    )
    inp = keras.Input((32, 32, 3))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base(inp)))
    model = keras.Model(inp, out)
    x = np.random.RandomState(1).rand(2, 32, 32, 3).astype(np.float32)
    grad = GradCAM(model)
    assert grad.layer_name == f"{base.name}/out_relu"
    assert grad.score.linear_layer is not None  # pre-softmax scores recomputed from the Dense layer
    preds, maps = grad(x)
    np.testing.assert_allclose(preds, model.predict(x, verbose=0), atol=1e-5)
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    _, gb = GuidedBackprop(model)(x)  # the ReLU6 layers are guided
    assert gb.shape == (2, 32, 32) and gb.max() == 1.0


# ----------------------------------------------------------------------------------- model unchanged


def test_user_model_unchanged_by_guided_methods(nested, x16):
    model, backbone = nested
    before_w = _weights(model)
    before_p = model.predict(x16, verbose=0)
    acts = {layer.name: getattr(layer, "activation", None) for layer in backbone.layers + model.layers}
    nodes = {layer.name: len(layer._inbound_nodes) for layer in backbone.layers + model.layers}
    config = copy.deepcopy(model.get_config())
    _, plain_before = Gradients(model)(x16)
    GuidedBackprop(model)(x16, target_class=[[0, 1]] * 4)
    GuidedGradCAM(model)(x16)
    assert all(np.array_equal(a, b) for a, b in zip(before_w, _weights(model), strict=True))
    np.testing.assert_array_equal(model.predict(x16, verbose=0), before_p)
    assert {
        layer.name: getattr(layer, "activation", None) for layer in backbone.layers + model.layers
    } == acts
    assert {layer.name: len(layer._inbound_nodes) for layer in backbone.layers + model.layers} == nodes
    assert model.get_config() == config
    # plain gradients after guided backprop are still the plain ones (nothing leaked into the graph)
    np.testing.assert_array_equal(Gradients(model)(x16)[1], plain_before)


def test_explainer_follows_weight_updates(nested, x16):
    """No cached copy of the weights: changing the model's weights changes the maps."""
    model, _ = nested
    model2, _ = nested_model(seed=0)
    gb = GuidedBackprop(model2)
    _, before = gb(x16)
    dense = model2.get_layer("logits")
    dense.kernel.assign(-dense.kernel)
    _, after = gb(x16)
    assert not np.allclose(before, after, atol=1e-4)


# ----------------------------------------------------------------------------------- other model kinds


def test_sequential_model_gradcam_equals_cam(x16):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Conv2D(3, 3, name="last"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax", name="head"),
        ]
    )
    grad = GradCAM(model)
    assert grad.layer_name == "last"
    np.testing.assert_allclose(grad(x16)[1], CAM(model, relu=True)(x16)[1], atol=1e-5)


class TinySubclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 3, activation="tanh")
        self.flat = keras.layers.Flatten()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(self.flat(self.conv(x)))


def test_subclassed_model_input_gradients_only(x16):
    keras.utils.set_random_seed(0)
    model = TinySubclassed()
    model(x16[:1])
    x = tf.constant(x16)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(model(x)[:, 1])
    want = np.abs(tape.gradient(score, x).numpy()).max(axis=-1)
    _, got = Gradients(model, normalize=False)(x16, target_class=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="Functional or Sequential"):
        GradCAM(model)
    with pytest.raises(ValueError, match="subclassed model. Use Gradients"):
        GuidedBackprop(model)  # its ReLUs cannot be reached: never silently fall back to plain gradients


def test_guided_backprop_without_relus_warns(x16):
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(2, 3, activation="tanh")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h)))
    with pytest.warns(UserWarning, match="no ReLU layers"):
        gb = GuidedBackprop(model)
    np.testing.assert_allclose(gb(x16)[1], Gradients(model)(x16)[1], atol=1e-6)


# ------------------------------------------------------------------------------------------------ 3D


def volume_model() -> keras.Model:
    """Conv3D(1x1x1) features (v, -v) -> GAP3D -> Dense(identity): class 0 looks at v, class 1 at -v."""
    inp = keras.Input((4, 8, 8, 1))
    feat = keras.layers.Conv3D(2, 1, use_bias=False, name="feat")(inp)
    pooled = keras.layers.GlobalAveragePooling3D(name="gap")(feat)
    logits = keras.layers.Dense(2, use_bias=False, name="logits")(pooled)
    model = keras.Model(inp, keras.layers.Softmax()(logits))
    model.get_layer("feat").set_weights([np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 1, 2)])
    model.get_layer("logits").set_weights([np.eye(2, dtype=np.float32)])
    return model


def synthetic_volumes() -> np.ndarray:
    v = np.random.RandomState(0).uniform(0.0, 0.2, (2, 4, 8, 8, 1)).astype(np.float32)
    v[0, 1:3, 2:5, 3:6] = 1.0  # a bright cube
    v[1, 0:2, 5:8, 0:3] = 0.9
    return v


def test_3d_gradcam_and_cam_are_the_volume():
    model = volume_model()
    vol = synthetic_volumes()
    want = vol[..., 0] - vol[..., 0].min(axis=(1, 2, 3), keepdims=True)
    want = want / want.max(axis=(1, 2, 3), keepdims=True)
    grad = GradCAM(model, mode="3D", layer="feat")
    preds, maps = grad(vol, target_class=[[0, 1], [0, 1]])
    assert maps.shape == (2, 2, 4, 8, 8)
    np.testing.assert_allclose(maps[:, 0], want, atol=1e-5)
    np.testing.assert_array_equal(maps[:, 1], 0.0)  # relu(-v) = 0: a constant map becomes zeros
    cam = CAM(model, mode="3D", relu=True)
    np.testing.assert_allclose(cam(vol, target_class=0)[1], want, atol=1e-5)
    np.testing.assert_allclose(preds, model.predict(vol, verbose=0), atol=1e-6)


METHODS_3D = ["GradCAM", "GradCAM++", "LayerCAM", "GuidedBackprop", "GuidedGradCAM", "Gradients",
              "SmoothGrad", "IntegratedGradients", "CAM"]  # fmt: skip


@pytest.mark.parametrize("method", METHODS_3D)
def test_3d_methods_on_a_conv3d_model(method):
    keras.utils.set_random_seed(4)
    inp = keras.Input((4, 8, 8, 1))
    h = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(inp)
    h = keras.layers.MaxPooling3D(2)(h)
    h = keras.layers.Conv3D(3, 3, padding="same", activation="relu", name="feat")(h)
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(keras.layers.GlobalAveragePooling3D()(h)))
    dense.kernel.assign(np.abs(dense.kernel.numpy()))  # positive evidence, so no map is all zeros
    vol = synthetic_volumes()
    kwargs = {"SmoothGrad": {"n_samples": 2}, "IntegratedGradients": {"steps": 3}}.get(method, {})
    explainer = saliency(model, method, mode="3D", **kwargs)
    preds, maps = explainer(vol)
    assert preds.shape == (2, 2)
    assert maps.shape == (2, 4, 8, 8) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    assert maps.reshape(2, -1).max(axis=1).tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------ calling conventions


def test_batching_uint8_tensor_and_explain(nested, x16):
    model, _ = nested
    big = GradCAM(model, batch_size=64)
    small = GradCAM(model, batch_size=3)  # 4 images -> chunks of 3 and 1
    p1, m1 = big(x16, target_class=[0, 1, 2, 3])
    p2, m2 = small(x16, target_class=[0, 1, 2, 3])
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    np.testing.assert_allclose(m1, m2, atol=1e-6)
    u8 = np.round(x16 * 255).astype(np.uint8)
    np.testing.assert_allclose(big(u8)[1], big(u8.astype(np.float32) / 255.0)[1], atol=1e-6)
    pt, mt = big(x16, as_tensor=True)
    assert isinstance(pt, tf.Tensor) and isinstance(mt, tf.Tensor)
    onehot = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]]
    np.testing.assert_allclose(big.explain(x16, onehot), m1, atol=1e-6)
    np.testing.assert_allclose(big.explain(x16, [0, 1, 2, 3]), m1, atol=1e-6)
    np.testing.assert_allclose(big.explain(x16), big(x16)[1], atol=1e-6)
    # the same class for every image, and None = each image's predicted class
    np.testing.assert_allclose(big(x16, target_class=2)[1], big(x16, target_class=[2] * 4)[1], atol=1e-6)
    pred = p1.argmax(axis=1)
    np.testing.assert_allclose(big(x16)[1], big(x16, target_class=pred)[1], atol=1e-6)


def test_smoothgrad_chunks_by_samples(nested, x16):
    model, _ = nested
    a = SmoothGrad(model, n_samples=4, noise_level=0.0, batch_size=8)  # 2 images per call
    assert a.samples_per_image == 4
    np.testing.assert_allclose(a(x16)[1], Gradients(model)(x16)[1], atol=1e-5)


def test_top_level_saliency_is_callable(nested, x16):
    """DESIGN.md: ``from hrcam.saliency import saliency; saliency(model, method=...)`` (a plain function; the
    package ``hrcam.saliency`` is a module, no longer made callable by a module class swap)."""
    import hrcam.saliency
    from hrcam.saliency import saliency as top

    model, _ = nested
    explainer = top(model, method="GradCAM", mode="2D", layer=None)
    assert isinstance(explainer, GradCAM) and isinstance(hrcam.saliency.saliency(model, "cam"), CAM)
    preds, maps = explainer(x16, target_class=[1, 1, 1, 1])
    assert preds.shape == (4, 4) and maps.shape == (4, 16, 16)


def test_method_registry():
    assert available_methods() == [
        "CAM", "GradCAM", "GradCAMPlusPlus", "LayerCAM", "Gradients", "GuidedBackprop", "GuidedGradCAM",
        "SmoothGrad", "IntegratedGradients", "ScoreCAM", "GuidedCAM", "MultiLayerCAM", "RISE", "BlurIG",
        "GuidedIG", "LIME", "ExtremalPerturbation", "IGOSPlusPlus", "AttentionRollout",
    ]  # fmt: skip
    for alias, name in [("gradcam++", "GradCAMPlusPlus"), ("Grad-CAM", "GradCAM"), ("guided_backprop",
                        "GuidedBackprop"), ("guided-gradcam", "GuidedGradCAM"), ("ig", "IntegratedGradients"),
                        ("smoothgrad", "SmoothGrad"), ("saliency", "Gradients"), ("cam", "CAM")]:  # fmt: skip
        assert get(alias).name == name
    with pytest.raises(ValueError, match="available: CAM, GradCAM"):
        get("nosuch")


# ------------------------------------------------------------------------------------------- errors


def test_error_no_conv_layer_names_the_fix():
    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp)))
    with pytest.raises(ValueError, match="no convolutional layer.*pass layer="):
        GradCAM(model)
    Gradients(model)(np.zeros((1, 8, 8, 3), np.float32))  # input gradients need no layer


def test_error_unknown_layer_lists_candidates(nested):
    model, _ = nested
    with pytest.raises(ValueError, match=r"'nope' is not a layer.*'backbone/bb_feat'"):
        GradCAM(model, layer="nope")
    with pytest.raises(ValueError, match=r"'logits' has output shape.*4-D"):
        GradCAM(model, layer="logits")
    with pytest.raises(ValueError, match="not part of model"):
        GradCAM(model, layer=keras.layers.Conv2D(2, 3))
    with pytest.raises(TypeError, match="`layer` must be"):
        GradCAM(model, layer=3)
    with pytest.raises(ValueError, match="input of the pooling layer 'gap'"):
        CAM(model, layer="bb_conv2")


def test_error_cam_needs_gap_dense():
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(2, 3)(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    with pytest.raises(ValueError, match="GlobalAveragePooling"):
        CAM(model)


def test_error_mode_mismatch(nested):
    model, _ = nested
    with pytest.raises(ValueError, match="mode='3D'.*use mode='2D'"):
        GradCAM(model, mode="3D")
    with pytest.raises(ValueError, match="use mode='3D'"):
        GradCAM(volume_model(), layer="feat", mode="2D")
    with pytest.raises(ValueError, match="`mode` must be"):
        GradCAM(model, mode="4D")
    with pytest.raises(ValueError, match="rank 5 .*mode='2D'"):
        GradCAM(model)(np.zeros((1, 2, 16, 16, 3), np.float32))


def test_error_bad_inputs_and_targets(nested, x16):
    model, _ = nested
    grad = GradCAM(model)
    with pytest.raises(ValueError, match=r"out of range \[0, 3\]"):
        grad(x16, target_class=4)
    with pytest.raises(ValueError, match="4 entries but the batch has"):
        grad(x16[:2], target_class=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="3 channel"):
        grad(np.zeros((2, 16, 16, 1), np.float32))
    with pytest.raises(ValueError, match="rank 4.*add a batch axis"):
        grad(x16[0])
    with pytest.raises(ValueError, match=r"spatial size \(16, 16\)"):
        grad(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        grad(x16 * 255.0)
    with pytest.raises(TypeError, match="keras.Model"):
        GradCAM("model.keras")
    with pytest.raises(ValueError, match="batch_size"):
        GradCAM(model, batch_size=0)
    with pytest.raises(ValueError, match="channel_reduce"):
        Gradients(model, channel_reduce="max")
    with pytest.raises(ValueError, match="not one-hot"):
        grad.explain(x16, np.full((4, 4), 0.25, np.float32))
