"""The one-toolkit commands, end to end: the FullModel's high-res map from `hrcam explain --model`, COSE and
deletion / insertion rows for a CASM masker and an Explainer, and a masker's map served from an export."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

from hrcam.cli import main
from hrcam.highres import DenseNetFCNConfig, FullModel, HalfModel

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from hrcam.casm.masker import CasmMasker
    from hrcam.explainer.classifier import build_classifier
    from hrcam.explainer.network import build_explainer

    d = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(11)
    hm = HalfModel(num_classes=3, input_shape=(32, 32, 3), config=TINY)
    clf = build_classifier("densenet_fcn", 3, (32, 32, 3), densenet=TINY)
    CasmMasker(hm.model).save(d / "m.keras")
    clf.save(d / "c.keras")
    build_explainer(3, (32, 32, 3), clf, channels=8, rates=(1, 2)).save(d / "e.keras")
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((48, 40, 3)) * 255).astype(np.uint8)).save(d / "img.png")
    return {
        "dir": d,
        "half": hm.save(d / "half.keras"),
        "full": FullModel(hm).save(d / "full.keras"),
        "masker": d / "m.keras",
        "classifier": d / "c.keras",
        "explainer": d / "e.keras",
        "image": d / "img.png",
    }


def test_explain_draws_the_full_models_high_res_map_at_the_files_size(files, tmp_path, capsys):
    from hrcam.data.folder import load_image_files
    from hrcam.highres import load_model

    out = tmp_path / "o"
    argv = [
        "explain",
        "--model",
        str(files["full"]),
        "--method",
        "hrcam",
        str(files["image"]),
        "--out",
        str(out),
    ]
    assert main([*argv, "--save-maps", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "HighResCAM"
    assert Image.open(out / "img.png").size == (40, 48)  # the file's resolution, not the model's 32x32
    fm = load_model(files["full"])
    x = load_image_files([str(files["image"])], (32, 32))
    np.testing.assert_allclose(np.load(out / "maps.npy"), fm.generate_cams(x)[0], atol=1e-5)


def test_evaluate_saliency_rows_for_a_masker_and_an_explainer(files, tmp_path, capsys):
    argv = [
        "evaluate", "saliency", "--model", str(files["classifier"]), "--data", "synthetic", "--n-images", "4",
        "--source", f"casm:masker={files['masker']}", "--source", f"explainer:model={files['explainer']}",
        "--transform", "rotate", "--magnitudes", "0.5", "--steps", "2", "--out", str(tmp_path / "o"),
        "--json",
    ]  # fmt: skip
    main(argv)  # exit 1 when a method has no correctly classified image (an untrained classifier): rows stay
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["method"] for r in rows] == ["CASM", "Explainer"]
    for row in rows:  # COSE and deletion / insertion for both trained explainers
        assert {"cose", "deletion", "insertion"} <= set(row), row


def test_export_serves_a_maskers_map(files, tmp_path, capsys):
    from hrcam.casm.masker import load_masker
    from hrcam.export.client import predict
    from hrcam.export.devserver import DevServer

    base = tmp_path / "serving"
    argv = ["export", "--model", str(files["half"]), "--out", str(base), "--name", "m", "--heads", "cam,casm"]
    assert main([*argv, "--masker", str(files["masker"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["heads"] == ["cam", "casm"]
    x = np.random.default_rng(5).random((2, 32, 32, 3)).astype(np.float32)
    with DevServer(base / "m") as server:
        got = predict(server.rest_url, x, model_name="m")
    np.testing.assert_allclose(got["casm"], load_masker(files["masker"]).masks(x), atol=1e-5)
    assert got["cam"].shape == (2, 32, 32)
