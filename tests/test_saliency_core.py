"""The public saliency core: compute(images, classes, capture=), targets (-1 = predicted) in every method,
method options through **kwargs, the registry (get), and the Keras private attributes the runner needs."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import hrcam.saliency as sal
from hrcam.models.vit import build_vit
from hrcam.saliency import (
    CAM,
    GradCAM,
    GradCAMPlusPlus,
    IntegratedGradients,
    SaliencyResult,
    SmoothGrad,
    available_methods,
)
from hrcam.saliency._keras_compat import KerasCompatError, missing_attributes


def small_cnn(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="conv2")(h)
    g = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    logits = keras.layers.Dense(4, name="logits")(g)
    return keras.Model(inp, keras.layers.Softmax(name="probabilities")(logits), name="small")


@pytest.fixture(scope="module")
def model():
    return small_cnn()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.RandomState(1).rand(3, 16, 16, 3).astype(np.float32)


def test_get_returns_the_class():
    assert sal.get("gradcam++") is GradCAMPlusPlus
    assert sal.get("Grad-CAM") is GradCAM and sal.get(CAM) is CAM
    with pytest.raises(ValueError, match="available: CAM"):
        sal.get("nope")
    assert not hasattr(sal, "get_method")


def test_saliency_is_a_plain_function_and_the_package_a_plain_module():
    import types

    from hrcam.saliency import saliency

    assert isinstance(saliency, types.FunctionType)
    assert type(sys.modules["hrcam.saliency"]) is types.ModuleType  # no module class swap


def test_documented_spelling_gives_the_function_in_a_fresh_process():
    """``from hrcam.saliency import saliency`` (DESIGN.md) is the function whatever was imported before;
    ``hrcam.saliency`` stays the package (so ``hrcam.saliency.get`` works)."""
    code = (
        "import types, hrcam.saliency.base, hrcam.saliency; from hrcam.saliency import saliency;"
        "print(isinstance(saliency, types.FunctionType), isinstance(hrcam.saliency, types.ModuleType),"
        " hrcam.saliency.get('cam').__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "CAM"]


@pytest.mark.parametrize("layer", ["conv1", "gap", "logits"])
def test_capture_equals_a_sub_models_output(model, x, layer):
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    for method in (GradCAM(model), SmoothGrad(model, n_samples=2), IntegratedGradients(model, steps=3)):
        res = method.compute(tf.constant(x), capture=(layer,))
        assert isinstance(res, SaliencyResult) and set(res.captured) == {layer}
        np.testing.assert_allclose(res.captured[layer].numpy(), sub(x).numpy(), atol=1e-5)
        np.testing.assert_allclose(res.preds.numpy(), model(x).numpy(), atol=1e-5)


def test_compute_is_traceable_with_capture(model, x):
    grad = GradCAM(model, normalize=False, upsample=False)

    @tf.function(autograph=False)
    def f(images, classes):
        res = grad.compute(images, classes, capture=("conv1", model.get_layer("gap")))
        return res.preds, res.classes, res.maps, res.captured["conv1"], res.captured["gap"]

    preds, classes, maps, conv1, gap = f(tf.constant(x), tf.constant([[-1], [2], [-1]]))
    predicted = np.argmax(model(x).numpy(), -1)
    assert classes.numpy()[:, 0].tolist() == [predicted[0], 2, predicted[2]]
    assert maps.shape == (3, 1, 8, 8) and conv1.shape == (3, 16, 16, 6) and gap.shape == (3, 5)
    _, eager = grad(x, target_class=classes.numpy()[:, 0])
    np.testing.assert_allclose(maps.numpy()[:, 0], eager, atol=1e-5)


@pytest.mark.parametrize("name", available_methods())
def test_minus_one_is_the_predicted_class_in_every_method(model, x, name):
    if name == "AttentionRollout":  # needs attention weights: on a ViT in tests/test_sources.py's matrix
        model = build_vit(5, tuple(x.shape[1:]), patch_size=4, dim=8, depth=1, heads=2)
    kwargs = {"seed": 3, "n_samples": 2} if name == "SmoothGrad" else {}
    kwargs.update({"steps": 4} if name == "IntegratedGradients" else {})
    kwargs.update({"layers": ["conv2", "conv1"]} if name == "MultiLayerCAM" else {})
    method = sal.get(name)(model, **kwargs)
    preds, predicted_maps = method(x)
    _, minus_one = method(x, target_class=-1)
    _, per_image = method(x, target_class=[-1] * len(x))
    _, explicit = method(x, target_class=np.argmax(preds, -1))
    for maps in (minus_one, per_image):
        np.testing.assert_allclose(maps, explicit, atol=1e-5)
    np.testing.assert_allclose(predicted_maps, explicit, atol=1e-5)
    res = method.compute(tf.constant(x), tf.fill([len(x), 1], -1))
    assert res.classes.numpy()[:, 0].tolist() == np.argmax(preds, -1).tolist()


def test_mixed_targets_with_minus_one_k_per_image(model, x):
    grad = GradCAM(model)
    preds, maps = grad(x, target_class=[[-1, 1], [0, -1], [3, 2]])
    predicted = np.argmax(preds, -1)
    _, ref = grad(x, target_class=[[predicted[0], 1], [0, predicted[1]], [3, 2]])
    assert maps.shape == (3, 2, 16, 16)
    np.testing.assert_allclose(maps, ref, atol=1e-6)


def test_method_kwargs_reach_the_base(model, x):
    raw = GradCAM(model, normalize=False)
    assert raw.normalize is False and raw.upsample is True
    _, maps = raw(x)
    assert maps.max() > 1.0 or maps.min() < 0.0 or not np.allclose(maps.max(axis=(1, 2)), 1.0)
    _, norm = GradCAM(model)(x)
    assert np.allclose(norm.max(axis=(1, 2)), 1.0)
    sg = SmoothGrad(model, n_samples=3, batch_size=6, normalize=False, seed=1, mode="2d")
    assert (sg.n_samples, sg.batch_size, sg.normalize, sg.mode, sg.seed) == (3, 6, False, "2D", 1)
    ig = IntegratedGradients(model, steps=5, use_logits=False, channel_reduce="l2")
    assert (ig.steps, ig.use_logits, ig.channel_reduce, ig.samples_per_image) == (5, False, "l2", 5)
    cam = CAM(model, relu=True, upsample=False, normalize=False)
    _, cams = cam(x)
    assert cams.shape == (3, 8, 8) and cams.min() >= 0.0


def test_unknown_option_names_the_method_and_its_options(model):
    with pytest.raises(TypeError, match=r"SmoothGrad got unexpected keyword argument\(s\) \['steps'\]"):
        SmoothGrad(model, steps=3)
    with pytest.raises(ValueError, match="GradCAM takes no `channel_reduce`"):
        GradCAM(model, channel_reduce="sum")


def test_keras_private_attributes_exist():
    assert missing_attributes() == [], f"Keras {keras.__version__} lacks: {missing_attributes()}"


def test_keras_compat_error_names_the_keras_version():
    from hrcam.saliency import _keras_compat as kc

    class NoNodes:
        pass

    message = f"_nodes_by_depth, which Keras {keras.__version__} does not have"
    with pytest.raises(KerasCompatError, match=message):
        kc.nodes_in_order(NoNodes())


def test_output_selects_the_class_scores_of_a_dict_output_model(model, x):
    """A FullModel-like model with several outputs: ``output=`` names the (B, C) one."""
    recon = keras.layers.Conv2D(3, 1, name="recon")(model.get_layer("conv1").output)
    multi = keras.Model(model.inputs[0], {"probabilities": model.outputs[0], "reconstruction": recon})
    with pytest.raises(ValueError, match="pass output="):
        GradCAM(multi)
    got = GradCAM(multi, output="probabilities", layer="conv2")
    want = GradCAM(model, layer="conv2")
    np.testing.assert_allclose(got(x)[1], want(x)[1], atol=1e-5)
    res = got.compute(tf.constant(x), capture=("recon",))
    assert res.captured["recon"].shape == (3, 16, 16, 3)


def test_capture_inside_a_nested_backbone(x):
    keras.utils.set_random_seed(0)
    b_in = keras.Input((16, 16, 3))
    backbone = keras.Model(b_in, keras.layers.Conv2D(4, 3, padding="same", name="inner")(b_in), name="bb")
    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(backbone(inp)))
    outer = keras.Model(inp, out)
    res = GradCAM(outer).compute(tf.constant(x), capture=("bb/inner",))
    np.testing.assert_allclose(res.captured["bb/inner"].numpy(), backbone(tf.constant(x)).numpy(), atol=1e-5)
