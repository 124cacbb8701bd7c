"""Guided up-sampling, the resize expansion path (objective 'distil'), multi-layer LayerCAM, PxAP."""

import numpy as np
import pytest
import tensorflow as tf

from hrcam.config import DenseNetFCNConfig
from hrcam.evaluation import max_box_acc_v2, pxap
from hrcam.highres.full import folded_class_maps
from hrcam.models import FullModel, HalfModel
from hrcam.ops.guided import box_mean, guided_upsample
from hrcam.saliency import saliency

TINY = DenseNetFCNConfig(num_blocks=3, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)


@pytest.fixture(scope="module")
def half():
    keras_seed = tf.keras.utils.set_random_seed
    keras_seed(0)
    return HalfModel(num_classes=3, input_shape=(32, 32, 3), config=TINY)


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).rand(6, 32, 32, 3).astype(np.float32)


def _step_edge():
    """Image: dark left of column 20, bright from 20 on; CAM: 4x4 blocks, high in the right half."""
    img = np.zeros((1, 32, 32, 3), np.float32)
    img[:, :, 20:] = 1.0
    img += 0.02 * np.random.RandomState(1).rand(*img.shape).astype(np.float32)
    cam = np.zeros((1, 1, 4, 4), np.float32)
    cam[..., 2:] = 1.0
    return img, cam


def _half_max_column(row):
    row = (row - row.min()) / (row.max() - row.min())
    return int(np.argmax(row >= 0.5))


@pytest.mark.parametrize("iterations", [0, 5])
def test_guided_upsampling_moves_the_edge_to_the_image_edge(iterations):
    img, cam = _step_edge()
    bilinear = tf.image.resize(cam[0].transpose(1, 2, 0), (32, 32)).numpy()[..., 0].mean(0)
    assert _half_max_column(bilinear) == 16  # the CAM's own edge, between grid cells
    out = guided_upsample(img, cam, radius=4, eps=1e-3, iterations=iterations).numpy()[0, 0]
    assert out.shape == (32, 32)
    row = out.mean(0)
    row = (row - row.min()) / (row.max() - row.min())
    jumps = np.diff(row)
    assert int(np.argmax(jumps)) == 19 and jumps[19] > 0.3  # the steepest step sits on the image's edge
    assert np.diff(bilinear).max() < 0.13  # bilinear: a ramp of 1/8 per pixel over two grid cells
    assert row[20:].min() > 0.95  # the bright side is flat
    if iterations:  # PAMR flattens the dark side too: the half-maximum moves to the image's edge
        assert _half_max_column(row) == 20


def test_box_mean_matches_brute_force():
    x = np.random.RandomState(2).rand(2, 9, 11, 2).astype(np.float32)
    r = 2
    ref = np.zeros_like(x)
    for i in range(9):
        for j in range(11):
            ref[:, i, j] = x[:, max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean((1, 2))
    np.testing.assert_allclose(box_mean(x, r).numpy(), ref, atol=1e-5)


def test_guided_upsampling_is_linear_and_keeps_constant_maps():
    img = np.random.RandomState(3).rand(2, 32, 32, 3).astype(np.float32)
    a = np.random.RandomState(4).randn(2, 2, 4, 4).astype(np.float32)
    b = np.random.RandomState(5).randn(2, 2, 4, 4).astype(np.float32)
    fa, fb, fab = (
        guided_upsample(img, m, radius=3, eps=1e-2, iterations=3).numpy() for m in (a, b, 2 * a + b)
    )
    np.testing.assert_allclose(fab, 2 * fa + fb, atol=1e-3)
    const = guided_upsample(img, np.full((2, 1, 4, 4), 0.7, np.float32), radius=3, eps=1e-2, iterations=3)
    np.testing.assert_allclose(const.numpy(), 0.7, atol=1e-4)


@pytest.mark.parametrize("source", ["cam", "gradcam"])
def test_guided_cam_batch_equals_per_image_and_keeps_predictions(half, images, source):
    explainer = saliency(half.model, method="guided_cam", source=source, radius=0.125, iterations=2)
    preds, maps = explainer(images)
    assert maps.shape == (6, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    np.testing.assert_array_equal(preds, half.predict_proba(images))
    for i in (0, 4):
        _, one = explainer(images[i : i + 1])
        np.testing.assert_allclose(one[0], maps[i], atol=1e-5)


def test_generate_cams_guided_option(half, images):
    cam, probs = half.generate_cams(images)
    cam2, guided, probs2 = half.generate_cams(images, guided=True)
    np.testing.assert_array_equal(cam, cam2)
    np.testing.assert_array_equal(probs, probs2)
    assert guided.shape == (6, 32, 32)
    _, guided_pm, _ = half.generate_cams(images, custom_class=[[0, 1]] * 6, guided={"iterations": 0})
    assert guided_pm.shape == (6, 2, 32, 32)
    explainer = saliency(half.model, method="guided_cam")
    np.testing.assert_allclose(explainer(images)[1], guided, atol=1e-5)
    with pytest.raises(ValueError, match="radius"):
        half.generate_cams(images, guided={"radius": -1})


def _period2_fraction(maps):
    m = maps - maps.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(m)) ** 2
    n = m.shape[-1] // 2
    p2 = power[..., n, :].sum(-1) + power[..., :, n].sum(-1) - power[..., n, n]
    return p2 / power.sum(axis=(-2, -1))


@pytest.mark.slow
def test_distil_expansion_no_checkerboard_same_predictions_loss_decreases(half, images, tmp_path):
    fm = FullModel(half, objective="distil")
    assert fm.expansion == "resize" and FullModel(half).expansion == "transpose"
    high, _, probs = fm.generate_cams(images, normalize=False)
    assert high.shape == (6, 32, 32)
    assert _period2_fraction(high).max() < 0.2  # random weights: no checkerboard
    assert _period2_fraction(FullModel(half).generate_cams(images, normalize=False)[0]).mean() > 0.2
    ds = tf.data.Dataset.from_tensor_slices((images, np.zeros(6, np.int32))).batch(3)
    history = fm.fit(ds, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    np.testing.assert_array_equal(fm.predict_proba(images), half.predict_proba(images))
    path = fm.save(tmp_path / "distil.keras")
    loaded = FullModel.load(path)
    assert loaded.objective == "distil"
    np.testing.assert_allclose(loaded.generate_cams(images)[0], fm.generate_cams(images)[0], atol=1e-6)


def test_multilayer_cam_fuses_by_max(half, images):
    from hrcam import sources
    from hrcam.highres.densenet_fcn import multilayer_layers

    layers = multilayer_layers(half.model)
    assert layers == ["dense2_1_concat", "dense1_1_concat", "dense0_1_concat"]
    _, fused = sources.get("multilayer_cam", half)(images, target_class=1)  # the registry fills in the layers
    singles = [saliency(half.model, method="LayerCAM", layer=n)(images, target_class=1)[1] for n in layers]
    expected = np.max(singles, axis=0)  # each single map is min-max normalised; the fusion is again
    lo, hi = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(fused, (expected - lo) / (hi - lo), atol=1e-5)
    with pytest.raises(ValueError, match="layers"):
        saliency(half.model, method="MultiLayerCAM", layers=[])


def test_pxap_known_answers():
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2] = True
    assert pxap(masks.astype(float), masks) == pytest.approx(1.0)
    assert pxap(1.0 - masks, masks) == pytest.approx(0.5)  # all recall at precision 0.5 (the lowest tau)
    # one image, 4 pixels: scores 1, .6, .3, 0 with fg = {1, .3}: AP = 1*(1/2) + (2/3)*(1/2)
    m = np.array([[[1.0, 0.6], [0.3, 0.0]]])
    s = np.array([[[1, 0], [1, 0]]], bool)
    assert pxap(m, s) == pytest.approx(0.5 + (2 / 3) * 0.5)


def test_max_box_acc_default_step_is_0_01():
    maps = np.zeros((1, 10, 10), np.float32)
    maps[0, 1:7, 1:7] = 0.97  # a halo only a threshold above 0.97 separates from the object
    maps[0, 2:5, 2:5] = 1.0
    gt = [np.array([[2, 2, 5, 5]], np.float32)]
    res = max_box_acc_v2(maps, gt)
    assert res["thresholds"][1] == pytest.approx(0.01) and res["MaxBoxAccV2"] == 1.0
    assert max_box_acc_v2(maps, gt, thresholds=np.arange(0, 1, 0.05))["MaxBoxAccV2"] == 0.0


def test_guided_cam_export_head_equals_generate_cams(half, images):
    from hrcam.export.heads import ServingHeads

    heads = ServingHeads(half, heads=("cam", "guided_cam"))
    out = heads.compute(images)
    _, guided, probs = half.generate_cams(images, guided=True)
    np.testing.assert_allclose(out["guided_cam"].numpy(), guided, atol=1e-4)
    np.testing.assert_array_equal(out["probabilities"].numpy(), probs)
    assert ServingHeads(half).heads == ("cam", "gradcam")  # the default export is unchanged


def test_distil_folded_maps_equal_the_activation_maps(half, images):
    """The distil path's maps_fn folds the class weights into its linear tail: the same maps as the
    high-res activations dotted with W[:, c], for given and predicted classes, also at another size."""
    from hrcam import ops

    fm = FullModel(half, objective="distil")
    assert fm._folded_parts() is not None and FullModel(half)._folded_parts() is None
    smooth = fm.model.get_layer("tr_up_early")  # not the box initialisation: every offset matters
    smooth.kernel.assign(np.random.RandomState(2).randn(*smooth.kernel.shape).astype(np.float32))
    conv = fm.model.get_layer("high_res_conv")
    conv.bias.assign(np.random.RandomState(3).randn(*conv.bias.shape).astype(np.float32))
    x = tf.constant(images)
    high, _, probs = fm.cam_model(x, training=False)
    model, resize, smooth = fm._folded_parts()
    pre = model(x, training=False)[0]
    for classes in ([[0], [1], [2], [0], [1], [2]], [[-1, 1]] * 6):
        cls = fm._select(probs, tf.constant(classes, tf.int32))
        expected = ops.class_activation_maps(high, fm.cam_kernel, cls).numpy()
        scale = np.abs(expected).max()
        folded = folded_class_maps(pre, smooth.kernel, fm.cam_kernel, cls, resize).numpy()
        np.testing.assert_allclose(folded / scale, expected / scale, atol=1e-5)
        # maps_fn folds only where it pays (k * 9 offsets < 6 channels: never here): the same maps
        out = fm.maps_fn(x, tf.constant(classes, tf.int32))["high_res_cam"].numpy()
        np.testing.assert_allclose(out / scale, expected / scale, atol=1e-5)
    big = tf.image.resize(x, (48, 40))
    out = fm.maps_fn(big, tf.constant([[1]] * 6, tf.int32))["high_res_cam"]
    assert out.shape == (6, 1, 48, 40)


def test_distil_maps_fold_only_where_it_pays(images, monkeypatch):
    """16 channels, a 3x3 smoothing kernel: one class per image (9 maps) is folded, two (18) are not;
    both give the activation maps' values."""
    import dataclasses

    import hrcam.highres.full as full
    from hrcam import ops

    tf.keras.utils.set_random_seed(1)
    wide = HalfModel(3, (32, 32, 3), config=dataclasses.replace(TINY, cam_channels=16))
    fm = FullModel(wide, objective="distil")
    calls = []

    def spy(*args, **kwargs):
        calls.append(int(args[3].shape[-1]))
        return folded_class_maps(*args, **kwargs)

    monkeypatch.setattr(full, "folded_class_maps", spy)
    x = tf.constant(images)
    high, _, probs = fm.cam_model(x, training=False)
    for classes in ([[0]] * 6, [[0, 2]] * 6):
        cls = tf.constant(classes, tf.int32)
        expected = ops.class_activation_maps(high, fm.cam_kernel, fm._select(probs, cls)).numpy()
        out = fm.maps_fn(x, cls)["high_res_cam"].numpy()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(out / scale, expected / scale, atol=1e-5)
    assert calls == [1]


@pytest.mark.slow
def test_distil_folded_export_head_matches_the_activation_maps(half, images, tmp_path):
    """The folded maps survive a SavedModel export (reloaded and compared by ``verify``) and equal the
    high-res activations dotted with W[:, c], min-max normalised as the head returns them."""
    from hrcam import ops
    from hrcam.export import export_saved_model

    fm = FullModel(half, objective="distil")
    smooth = fm.model.get_layer("tr_up_early")
    smooth.kernel.assign(np.random.RandomState(4).randn(*smooth.kernel.shape).astype(np.float32))
    path = export_saved_model(fm, tmp_path, "distil", heads="cam,high_res_cam", warmup=False, verify=True)
    loaded = tf.saved_model.load(str(path.path))
    out = loaded.signatures["explain"](images=tf.constant(images), class_index=tf.fill([6], 1))
    high, _, _ = fm.cam_model(tf.constant(images), training=False)
    expected = ops.class_activation_maps(high, fm.cam_kernel, tf.fill([6, 1], 1))[:, 0].numpy()
    lo, hi = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out["high_res_cam"].numpy(), (expected - lo) / (hi - lo), atol=1e-4)
