"""``hrcam explain``: a saved .keras model and image files in, overlay PNGs and a JSON summary out."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

from hrcam.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inp, keras.layers.Softmax()(logits))
    path = root / "tiny.keras"
    model.save(path)
    rng = np.random.RandomState(0)
    images = []
    for name, size in (("a.png", (20, 24)), ("b.jpg", (16, 16))):  # resized to the model's 16x16
        arr = rng.randint(0, 256, size + (3,)).astype(np.uint8)
        Image.fromarray(arr).save(root / name)
        images.append(str(root / name))
    return model, path, images, root


def test_explain_writes_overlays_and_json(saved, capsys):
    model, path, images, root = saved
    out = root / "maps"
    rc = main(["explain", "--model", str(path), "--method", "GradCAM", *images, "--out", str(out), "--json",
               "--save-maps", "--figure"])  # fmt: skip
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "GradCAM" and result["layer"] == "conv"
    assert sorted(p.name for p in out.iterdir()) == [
        "a.png",
        "b.png",
        "explain.json",
        "figure.png",
        "maps.npy",
    ]
    assert Image.open(out / "a.png").size == (16, 16)
    maps = np.load(out / "maps.npy")
    assert maps.shape == (2, 16, 16) and maps.max() == 1.0
    # the same maps as the library on the same (resized) pixels
    from hrcam.data.folder import load_image_files
    from hrcam.saliency import GradCAM

    x = load_image_files(images, (16, 16))
    preds, want = GradCAM(model)(x)
    np.testing.assert_allclose(maps, want, atol=1e-5)
    assert [r["predicted_class"] for r in result["images"]] == preds.argmax(axis=1).tolist()
    assert json.loads((out / "explain.json").read_text())["files"][0].endswith("a.png")


def test_explain_top_k_and_errors(saved, capsys):
    _, path, images, root = saved
    out = root / "topk"
    rc = main(["explain", "--model", str(path), "--method", "guided_gradcam", *images, "--out", str(out),
               "--top-k", "2"])  # fmt: skip
    assert rc == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a_0.png", "a_1.png", "b_0.png", "b_1.png"]
    assert "GuidedGradCAM on layer 'conv'" in capsys.readouterr().out
    assert main(["explain", "--model", str(path), "--method", "scorecam", *images, "--out", str(out)]) == 2
    assert "available: CAM, GradCAM" in capsys.readouterr().err
    assert main(["explain", "--model", str(root / "none.keras"), *images, "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = ["explain", "--model", str(path), *images, "--out", str(out), "--target-class", "7"]
    assert main(bad) == 2
    assert "out of range" in capsys.readouterr().err
