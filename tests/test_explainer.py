"""The Explainer (issue 12): loss terms against hand-computed values, mask aggregation, the frozen classifier,
RISE on a known model, the evaluation harness' baselines, data with class-indexed masks, configs."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam.explainer import losses as L
from hrcam.explainer.class_masks import (
    merge_class_maps,
    segmentation_table,
    specificity_matrix,
    trivial_maps,
)
from hrcam.explainer.classifier import MultiLabelMetric, build_classifier
from hrcam.explainer.config import load_explainer_config
from hrcam.explainer.network import aggregate_masks, build_explainer, dilate_backbone
from hrcam.highres.densenet_fcn import DenseNetFCNConfig

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, weight_decay=0.0)


# --- loss terms


def test_total_variation_reflect_padding_hand_computed():
    m = tf.constant([[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]])  # (1, 2, 3)
    # right differences (last column reflects to the one before it): |1|,|2|,|-2| ; |0|,|0|,|0|
    # down differences (last row reflects to the row above): |2|,|1|,|-1| ; |-2|,|-1|,|1|
    l1 = (1 + 2 + 2 + 0 + 0 + 0 + 2 + 1 + 1 + 2 + 1 + 1) / 6
    sq = (1 + 4 + 4 + 0 + 0 + 0 + 4 + 1 + 1 + 4 + 1 + 1) / 6
    assert float(L.total_variation(m)) == pytest.approx(l1)
    assert float(L.total_variation(m, squared=True)) == pytest.approx(sq)
    assert float(L.total_variation(tf.ones((2, 4, 4)))) == 0.0


def test_entropy_loss_sign_and_value():
    uniform = L.entropy_loss(tf.zeros((2, 4)))
    assert float(uniform) == pytest.approx(-math.log(4) / 4, rel=1e-6)  # -entropy / C
    confident = L.entropy_loss(tf.constant([[20.0, 0, 0, 0]]))
    assert float(confident) > float(uniform)  # minimising the loss maximises the entropy
    assert float(confident) == pytest.approx(0.0, abs=1e-6)


def test_area_loss_sorted_targets_hand_computed():
    # 10 pixels, min_area 0.2 -> the 2 largest should be 1; max_area 0.5 -> all after the 5th should be 0
    vals = np.array([0.9, 0.1, 0.6, 0.3, 0.8, 0.0, 0.7, 0.2, 0.5, 0.4], np.float32)
    masks = np.stack([vals, np.full(10, 1.0, np.float32)], -1).reshape(1, 2, 5, 2)  # (B, H, W, C)
    s = np.sort(vals)[::-1]
    t_min = (np.arange(10) < 2).astype(float)
    t_max = (np.arange(10) < 5).astype(float)
    l0 = np.mean(np.maximum(t_min - s, 0) + np.maximum(s - t_max, 0))  # (0.1 + 0.2) min + (0.4+...+0) max
    l1 = np.mean(np.maximum(1 - t_max, 0))  # an all-ones mask: 5 of 10 pixels too many
    assert l0 == pytest.approx((0.1 + 0.2 + 0.4 + 0.3 + 0.2 + 0.1) / 10)
    got = L.area_loss(masks, np.array([[1, 0]]), 0.2, 0.5)
    assert float(got) == pytest.approx(l0, rel=1e-5)
    both = L.area_loss(masks, np.array([[1, 1]]), 0.2, 0.5)  # summed over target classes
    assert float(both) == pytest.approx(l0 + l1, rel=1e-5)
    with pytest.raises(ValueError, match="min_area"):
        L.area_loss(masks, np.array([[1, 0]]), 0.5, 0.2)


def test_classification_preservation_destruction_hand_computed():
    logits, y = tf.constant([[0.0, 2.0]]), tf.constant([[1.0, 0.0]])
    bce = (math.log(2) + (2 + math.log1p(math.exp(-2)))) / 2
    assert float(L.classification_loss(logits, y)) == pytest.approx(bce, rel=1e-6)
    assert float(L.classification_loss(logits, y, "ce")) == pytest.approx(math.log1p(math.exp(2)), rel=1e-6)
    assert float(L.preservation_loss(logits, y)) == pytest.approx(math.log(2), rel=1e-6)
    assert float(L.destruction_loss(logits, tf.constant([[0.0, 1.0]]))) == pytest.approx(
        1 / (1 + math.exp(-2))
    )
    with pytest.raises(ValueError, match="kind"):
        L.classification_loss(logits, y, "mse")


def test_alternative_images_noise_std_fixed_and_blur_keeps_constants():
    x = tf.fill((4, 32, 32, 3), 0.5)
    blurred = L.gaussian_blur(x, 3.0)
    np.testing.assert_allclose(blurred.numpy(), 0.5, atol=1e-5)
    seen = set()
    for i in range(8):
        alt = L.alternative_images(x, tf.constant([i, 1]), noise_std=0.11).numpy()
        if np.allclose(alt, 0.5, atol=1e-4):
            seen.add("blur")
            continue
        seen.add("colour")
        resid = alt - alt.mean(axis=(1, 2), keepdims=True)  # remove the per-(image, channel) offset
        assert 0.09 < resid.std() < 0.12  # std 0.11 (NN-Explainer's colour branch had std 1: the bug)
    assert seen == {"blur", "colour"}


# --- masks and models


def test_aggregate_masks_several_targets():
    logits = np.zeros((1, 1, 2, 4), np.float32)
    logits[0, 0, 0] = [1.0, -3.0, 2.0, 0.5]
    logits[0, 0, 1] = [-1.0, 4.0, -2.0, -5.0]
    m, n = aggregate_masks(logits, np.array([[1, 0, 1, 0]]))
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    np.testing.assert_allclose(m.numpy()[0, 0], [sig(2.0), sig(-1.0)], rtol=1e-6)
    np.testing.assert_allclose(n.numpy()[0, 0], [sig(0.5), sig(4.0)], rtol=1e-6)
    m, n = aggregate_masks(logits, np.array([[1, 1, 1, 1]]))
    np.testing.assert_allclose(n.numpy(), 0.0, atol=1e-7)  # no non-target class: an empty mask


def test_explainer_shapes_and_dilated_backbone():
    clf = build_classifier("densenet_fcn", 3, (32, 32, 3), densenet=TINY)
    assert clf.output_shape == (None, 3) and clf.get_layer("features").output.shape[1] == 8
    ex = build_explainer(3, (32, 32, 3), clf, channels=8, rates=(1, 2, 3))
    assert ex.output_shape == (None, 32, 32, 3)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inp)
    for _ in range(3):
        x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)
        x = keras.layers.Conv2D(4, 3, padding="same")(x)
    net = keras.Model(inp, x)
    d = dilate_backbone(net, 8)
    assert net.output_shape[1] == 2 and d.output_shape[1] == 4  # stride 16 -> 8
    assert d.layers[-1].dilation_rate == (2, 2)
    with pytest.raises(ValueError, match="output_stride"):
        dilate_backbone(net, 6)


def test_deeplab_plus_decoder_reads_the_stride_4_map_and_saves(tmp_path):
    from hrcam.explainer.network import stride_layer

    keras.utils.set_random_seed(0)
    clf = build_classifier("densenet_fcn", 3, (32, 32, 3), densenet=TINY)  # features at stride 4 (8x8)
    with pytest.raises(ValueError, match="decoder_stride.*below the features' stride 4"):
        build_explainer(3, (32, 32, 3), clf, channels=8, rates=(1, 2), decoder_stride=4)
    with pytest.raises(TypeError, match="decoder_stride"):
        build_explainer(3, (32, 32, 3), clf, channels=8, rates=(1, 2), decoder_stride=2.0)
    ex = build_explainer(3, (32, 32, 3), clf, channels=8, rates=(1, 2), decoder_stride=2, decoder_channels=4)
    assert ex.output_shape == (None, 32, 32, 3)
    assert ex.get_layer("class_logits").output.shape[1:3] == (16, 16)  # logits on the stride-2 grid
    assert ex.get_layer("decoder_low_conv").input.shape[1:3] == (16, 16)
    name = stride_layer(clf, 2)
    assert clf.get_layer(name).output.shape[1] == 16
    with pytest.raises(ValueError, match="no 4-D feature map at stride 64"):
        stride_layer(clf, 64)
    with pytest.raises(ValueError, match="no 4-D feature map at stride 3"):  # 32 / 3 is not a stride
        stride_layer(clf, 3)
    vgg = build_classifier("vgg16", 3, (32, 32, 3), hidden_units=8)  # its stages are one nested layer
    with pytest.raises(ValueError, match="decoder_stride. 4: .*top-level layers"):
        build_explainer(3, (32, 32, 3), vgg, channels=8, rates=(1, 2), decoder_stride=4)
    # a save / load round trip keeps the outputs; the low-level branch feeds the logits
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    before = ex.predict(x, verbose=0)
    path = tmp_path / "ex.keras"
    ex.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), before, atol=1e-5)
    kernel = ex.get_layer("decoder_low_conv")
    kernel.set_weights([w + 1.0 for w in kernel.get_weights()])
    assert not np.allclose(ex.predict(x, verbose=0), before, atol=1e-4)
    cfg = load_explainer_config(None, ["explainer.decoder_stride=4"])
    assert cfg.explainer.decoder_stride == 4
    with pytest.raises(ValueError, match="explainer.decoder_stride"):
        load_explainer_config(None, ["explainer.decoder_stride=3"])


def test_multilabel_metric_micro_counts():
    m = MultiLabelMetric("f1", threshold=0.0)
    m.update_state(np.array([[1, 0, 1], [0, 1, 0]]), np.array([[2.0, 1.0, -1.0], [-1.0, 3.0, -2.0]]))
    # tp = 2, fp = 1, fn = 1 -> P = R = 2/3
    assert float(m.result()) == pytest.approx(2 / 3, rel=1e-5)
    acc = MultiLabelMetric("accuracy", threshold=-1.5)  # the Explainer's lower threshold counts -1 positive
    acc.update_state(np.array([[1, 0, 1]]), np.array([[2.0, -2.0, -1.0]]))
    assert float(acc.result()) == pytest.approx(1.0)


def test_classifier_weights_unchanged_by_explainer_training(tmp_path):
    from hrcam.explainer.training import ExplainerTrainer

    keras.utils.set_random_seed(0)
    clf = build_classifier("densenet_fcn", 3, (32, 32, 3), densenet=TINY)
    ex = build_explainer(3, (32, 32, 3), clf, channels=8, rates=(1, 2))
    before = [w.copy() for w in clf.get_weights()]
    ex_before = [w.copy() for w in ex.get_weights()]
    cfg = load_explainer_config()
    trainer = ExplainerTrainer(ex, clf, cfg.loss)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(0).uniform(size=(8, 32, 32, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    hist = trainer.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert {"loss", "classification", "entropy", "area", "tv"} <= set(hist)
    for a, b in zip(before, clf.get_weights()):  # BN statistics included: inference mode
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(ex_before, ex.get_weights()))
    rtsal = ExplainerTrainer(ex, clf, cfg.rtsal, variant="rtsal")  # blur / colour alternative images
    rtsal.compile(optimizer=keras.optimizers.Adam(1e-2))
    hist = rtsal.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert {"loss", "preservation", "destruction", "tv", "mask_mean"} <= set(hist)
    assert np.isfinite(hist["loss"][0])
    for a, b in zip(before, clf.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- RISE


def test_rise_peaks_on_the_region_the_score_reads():
    from hrcam.saliency import get, saliency

    assert get("rise").name == "RISE"
    inp = keras.Input((32, 32, 3))
    region = keras.layers.Cropping2D(((8, 16), (16, 8)))(inp)  # rows 8..15, columns 16..23
    dense = keras.layers.Dense(2, use_bias=False)
    model = keras.Model(inp, dense(keras.layers.GlobalAveragePooling2D()(region)))
    dense.set_weights([np.array([[1 / 3, 0.1]] * 3, np.float32)])
    x = np.random.default_rng(1).uniform(0.5, 1, (2, 32, 32, 3)).astype("float32")
    rise = saliency(model, "RISE", n_masks=400, chunk_size=100, activation="none", seed=3)
    _, maps = rise(x, target_class=0)
    assert maps.shape == (2, 32, 32)
    for m in maps:
        inside = m[8:16, 16:24].mean()
        assert inside > 3 * np.delete(m.ravel(), np.ravel_multi_index(np.mgrid[8:16, 16:24], m.shape)).mean()
        r, c = np.unravel_index(m.argmax(), m.shape)
        assert 6 <= r < 18 and 14 <= c < 26
    _, again = rise(x, target_class=0)
    np.testing.assert_array_equal(maps, again)  # stateless: same seed, same masks
    with pytest.raises(ValueError, match="activation"):
        saliency(model, "RISE", activation="relu")


# --- harness


def test_harness_trivial_baselines_known_scores():
    gt = np.zeros((2, 10, 10), np.float32)
    gt[0, :5] = 1  # area 0.5
    gt[1, :2, :5] = 1  # area 0.1
    area = gt.mean(axis=(1, 2))
    t = {name: segmentation_table(trivial_maps(name, gt), gt) for name in ("0", "0.5", "1", "perfect")}
    assert t["perfect"]["discrete_iou"] == pytest.approx(1) and t["perfect"]["auc"] == pytest.approx(1)
    assert t["0"]["discrete_iou"] == 0 and t["0"]["soft_accuracy"] == pytest.approx(np.mean(1 - area))
    assert t["1"]["continuous_iou"] == pytest.approx(area.mean()) and t["1"]["mask_coverage"] == 1
    assert t["1"]["background_coverage"] == pytest.approx(1)
    assert t["0.5"]["discrete_iou"] == pytest.approx(4 / 9 * area.mean())  # m > t only for t < 0.5
    for name in ("0", "0.5", "1"):
        assert t[name]["auc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="baseline"):
        trivial_maps("0.3", gt)


def test_merge_and_specificity_matrix():
    maps = np.zeros((1, 3, 2, 2), np.float32)
    maps[0, 0, 0, 0], maps[0, 1, 0, 0], maps[0, 1, 1, 1], maps[0, 2] = 0.4, 0.9, 0.2, 1.0
    merged = merge_class_maps(maps, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(merged[0], [[0.9, 0], [0, 0.2]])
    probs = np.zeros((2, 2, 9, 3))
    probs[0, :, :, 0] = [[0.8], [0.2]]  # image 0 has class 0: own mask 0.8, class 1's mask 0.2
    probs[1, :, :, 1] = [[0.1], [0.7]]  # image 1 has class 1
    mat = specificity_matrix(probs, np.array([[1, 0, 0], [0, 1, 0]]), classes=[0, 1])
    np.testing.assert_allclose(mat, [[0.8, 0.2], [0.1, 0.7]])


# --- data and configs


def test_folder_class_indexed_masks_void_rule(tmp_path):
    import cv2

    from hrcam.data.folder import FolderDataset

    for cls in ("a", "b"):
        (tmp_path / "val" / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "val" / cls / f"{cls}1.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "masks" / "val").mkdir(parents=True)
    idx = np.zeros((8, 8), np.uint8)
    idx[:4, :4], idx[4:, 4:], idx[4, :4] = 1, 2, 255
    cv2.imwrite(str(tmp_path / "masks" / "val" / "a1.png"), idx)
    cv2.imwrite(str(tmp_path / "masks" / "val" / "b1.png"), np.zeros((8, 8), np.uint8))
    folder = FolderDataset(tmp_path)
    files = folder.files("val")
    masks, labels = folder.class_masks(files, "val", (8, 8), labels=folder.labels("val"))
    np.testing.assert_array_equal(labels, [[1, 1], [0, 1]])  # classes in the mask + the folder's class
    assert masks[0, 0].sum() == 16 and masks[0, 1].sum() == 16 and not masks[1].any()
    void, _ = folder.class_masks(files, "val", (8, 8), void_as_foreground=True)
    assert void[0, 0].sum() == 20 and void[0, 1].sum() == 20  # void pixels join every class of the image
    bad = idx.copy()
    bad[0, 0] = 7
    cv2.imwrite(str(tmp_path / "masks" / "val" / "b1.png"), bad)
    with pytest.raises(ValueError, match="pixel value 7"):
        folder.class_masks(files, "val", (8, 8))


def test_bad_configs_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="train.variant"):
        load_explainer_config(None, ["train.variant=gradcam"])
    with pytest.raises(ValueError, match="`loss.lamda`: unknown key"):
        load_explainer_config(None, ["loss.lamda=1"])
    with pytest.raises(ValueError, match="min_area"):
        load_explainer_config(None, ["loss.min_area=0.5", "loss.max_area=0.1"])
    with pytest.raises(ValueError, match="data.root"):
        load_explainer_config(None, ["data.source=folder"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("losses: {tv: 1}\n")
    with pytest.raises(ValueError, match="unknown config section"):
        load_explainer_config(bad)
    with pytest.raises(FileNotFoundError):
        load_explainer_config(tmp_path / "missing.yaml")
    for name in ("explainer-vgg16-voc", "explainer-resnet50-coco", "explainer-synthetic"):
        assert load_explainer_config(name).loss.min_area == 0.05
    assert load_explainer_config("explainer-resnet50-voc").loss.entropy == 3.0


@pytest.mark.slow
def test_train_explainer_cli_end_to_end_and_resume(tmp_path, capsys):
    from hrcam.cli import main

    args = [
        "train-explainer",
        "--config",
        "explainer-synthetic",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        "--set",
        "data.image_size=32",
        "--set",
        "data.train_size=16",
        "--set",
        "data.val_size=8",
        "--set",
        "classifier.num_blocks=2",
        "--set",
        "classifier.growth_rate=4",
        "--set",
        "classifier.epochs=1",
        "--set",
        "explainer.channels=8",
        "--set",
        "explainer.decoder_stride=2",  # the DeepLabv3+ decoder (features at stride 4 here)
        "--set",
        "train.steps_per_epoch=2",
        "--epochs",
        "1",
        "--json",
    ]
    assert main(args) == 0
    assert (tmp_path / "run" / "explainer" / "best.keras").is_file()
    assert list((tmp_path / "run" / "logs" / "explainer").glob("*"))  # TensorBoard (with mask images)
    capsys.readouterr()
    assert main(args) == 0  # finished stages are not trained again
    assert main(["train-explainer", "--set", "train.variant=nope"]) == 2
    assert "train.variant" in capsys.readouterr().err


def test_stage_extends_after_all_epochs_not_after_early_stop_and_uses_the_configured_lr(tmp_path):
    from hrcam.explainer.training import _run_stage, _stage
    from hrcam.io import read_json

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

    def run(root, epochs, lr, patience=5, min_delta=0.0):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        callbacks, state, train = _stage(root, "s", epochs, None, patience, min_delta, 50)
        history = _run_stage(model, state, callbacks, ds, ds, train, 0, lr)
        return model, history

    _, h = run(tmp_path / "a", 2, 1e-2)
    assert len(h["loss"]) == 2 and read_json(tmp_path / "a" / "s" / "finished.json")["stopped_early"] is False
    model, h = run(tmp_path / "a", 4, 1e-3)  # epochs raised: the finished stage resumes at epoch 3
    assert len(h["loss"]) == 4 and len(read_json(tmp_path / "a" / "s" / "history.json")["loss"]) == 4
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)  # not the 1e-2 restored from the state
    assert read_json(tmp_path / "a" / "s" / "state" / "state.json")["learning_rate"] == pytest.approx(1e-3)
    _, h = run(tmp_path / "b", 10, 1e-2, patience=1, min_delta=1e9)  # no epoch improves by 1e9: stops at 2
    assert len(h["loss"]) == 2 and read_json(tmp_path / "b" / "s" / "finished.json")["stopped_early"] is True
    _, h = run(tmp_path / "b", 20, 1e-2)  # an early-stopped stage is not trained again
    assert len(h["loss"]) == 2
