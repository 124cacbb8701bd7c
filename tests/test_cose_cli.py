"""``hrcam evaluate saliency`` end to end on a tiny FullModel, and map sources on hrcam models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from hrcam.cli import main
from hrcam.config import DenseNetFCNConfig
from hrcam.models import FullModel, HalfModel
from hrcam.sources.cose import method_source, random_copy

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("cose")
    hm = HalfModel(num_classes=3, input_shape=(32, 32, 3), config=TINY)
    fm = FullModel(half_model=hm)
    return hm.save(d / "half.keras"), fm.save(d / "full.keras"), hm, fm


def test_hrcam_sources_and_random_copy(model_files):
    _, _, hm, fm = model_files
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
    probs, high = method_source(fm, "hrcam")(x)
    _, low = method_source(fm, "hrcam-low")(x)
    _, grad = method_source(hm, "gradcam")(x)
    np.testing.assert_allclose(probs, fm.predict_proba(x), atol=1e-6)
    for m in (high, low, grad):
        assert m.shape == (2, 32, 32) and m.min() >= 0 and m.max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="needs a FullModel"):
        method_source(hm, "hrcam")
    # one compiled pass per batch (no separate predict_proba), the same maps as `hrcam score`'s
    from hrcam.sources.scoring import method_maps

    targets = np.argmax(probs, -1)
    np.testing.assert_allclose(high, method_maps("hrcam", fm, x, targets), atol=1e-6)
    np.testing.assert_allclose(low, method_maps("cam", fm, x, targets), atol=1e-6)
    for model in (hm, fm):  # HalfModel and FullModel outputs differ in length: every source, both kinds
        p_low, low_m = method_source(model, "hrcam-low")(x)
        p_guided, guided_m = method_source(model, "hrcam-guided")(x)
        np.testing.assert_allclose(p_low, probs, atol=1e-6)
        np.testing.assert_allclose(p_guided, probs, atol=1e-6)
        np.testing.assert_allclose(low_m, method_maps("cam", model, x, targets), atol=1e-6)
        np.testing.assert_allclose(guided_m, method_maps("guided", model, x, targets), atol=1e-5)
    calls = []
    original = fm.predict_proba
    fm.predict_proba = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        for name in ("hrcam", "hrcam-low", "hrcam-guided"):
            method_source(fm, name)(x)
    finally:
        del fm.predict_proba
    assert calls == []
    clone = random_copy(hm)
    assert isinstance(clone, HalfModel)
    assert not np.allclose(
        clone.model.get_layer("logits").kernel.numpy(), hm.model.get_layer("logits").kernel.numpy()
    )


def test_hrcam_guided_source_on_half_and_full_model(model_files):
    _, _, hm, fm = model_files
    from hrcam.sources.scoring import method_maps

    x = np.random.RandomState(1).rand(3, 32, 32, 3).astype(np.float32)
    src = method_source(hm, "hrcam_guided")
    assert src.name == "GuidedCAM"
    probs, guided = src(x)
    _, low = method_source(hm, "hrcam-low")(x)
    assert guided.shape == (3, 32, 32) and np.isfinite(guided).all()
    np.testing.assert_allclose(guided, method_maps("guided", hm, x, np.argmax(probs, -1)), atol=1e-6)
    assert not np.allclose(guided, low, atol=1e-3)  # edge-aware, not the plain up-sampling
    # the FullModel's CAM head is the HalfModel's: the same guided maps, and a random copy runs it too
    np.testing.assert_allclose(method_source(fm, "hrcam-guided")(x)[1], guided, atol=1e-5)
    _, rand = src.on(random_copy(hm))(x)
    assert rand.shape == guided.shape and not np.allclose(rand, guided, atol=1e-3)


def test_evaluate_methods_adds_bootstrap_intervals(model_files):
    from hrcam.sources.cose import evaluate_methods

    _, _, hm, _ = model_files
    x = np.random.RandomState(2).rand(6, 32, 32, 3).astype(np.float32)
    y = np.argmax(hm.predict_proba(x), -1)  # every image counts
    kw = dict(transforms=["flip_lr", "brightness"], magnitudes=[0.5], steps=2, batch_size=8)
    rows = evaluate_methods(
        {"m": hm}, x, y, ["gradcam", "hrcam-low"], perturbations={"m": {"random": random_copy(hm)}},
        bootstrap=40, **kw,
    )  # fmt: skip
    for r in rows:
        lo, hi = r["cose_ci"]
        assert len(r["cose_draws"]) == 40 and lo <= hi
        assert r["consistency_ci"][0] <= r["consistency"] <= r["consistency_ci"][1]
    assert "cose_ci" not in evaluate_methods({"m": hm}, x, y, ["gradcam"], **kw)[0]


@pytest.mark.slow
def test_evaluate_saliency_cli_writes_table_json_and_figures(model_files, tmp_path, capsys):
    half, full, _, _ = model_files
    out = tmp_path / "out"
    rc = main([
        "evaluate", "saliency", "--model", str(full), "--data", "synthetic", "--method", "gradcam",
        "--method", "hrcam", "--n-images", "4", "--steps", "2", "--batch-size", "16",
        "--transform", "flip_lr", "--transform", "brightness", "--magnitudes", "-0.5", "0.5",
        "--checkpoint", str(half), "--out", str(out), "--json",
    ])  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    assert rc in (0, 1)  # 1: an untrained model may classify no image correctly
    assert [r["method"] for r in res["results"]] == ["GradCAM", "HighResCAM"]
    row = res["results"][0]
    for key in ("cose", "consistency", "fidelity", "consistency_geometric", "consistency_photometric",
                "deletion", "insertion", "seconds_per_image"):  # fmt: skip
        assert key in row or row["n_correct"] == 0
    # HR-CAM's high-res maps cannot run on the HalfModel checkpoint: reported, not fatal
    assert "half" in res["results"][1]["skipped_perturbations"] or res["results"][1]["n_correct"] == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "cose.json",
        "cose_heatmap.png",
        "transforms_full_GradCAM.png",
        "transforms_full_HighResCAM.png",
    ]
    assert main(["evaluate", "saliency", "--model", str(full), "--data", "synthetic"]) == 2  # no --method
