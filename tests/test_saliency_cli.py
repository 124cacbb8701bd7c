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
    # overlays at the input file's resolution (a.png is 20 x 24), maps (and maps.npy) at the model's 16 x 16
    assert Image.open(out / "a.png").size == (24, 20) and Image.open(out / "b.png").size == (16, 16)
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
    assert main(["explain", "--model", str(path), "--method", "nosuch", *images, "--out", str(out)]) == 2
    assert "available: cam, gradcam" in capsys.readouterr().err
    assert main(["explain", "--model", str(root / "none.keras"), *images, "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = ["explain", "--model", str(path), *images, "--out", str(out), "--target-class", "7"]
    assert main(bad) == 2
    assert "out of range" in capsys.readouterr().err


def test_explain_overlays_keep_each_files_resolution_and_unique_names(saved, tmp_path):
    """Two files of different sizes with the same name in two folders: x.png and x-1.png, each overlay at its
    own file's size (the maps are up-sampled to it), the k maps of --top-k too."""
    _, path, _, _ = saved
    rng = np.random.RandomState(3)
    files = []
    for folder, size in (("a", (40, 30)), ("b", (18, 50))):
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.randint(0, 256, size + (3,)).astype(np.uint8)).save(tmp_path / folder / "x.png")
        files.append(str(tmp_path / folder / "x.png"))
    out = tmp_path / "out"
    assert main(["explain", "--model", str(path), *files, "--out", str(out)]) == 0
    assert Image.open(out / "x.png").size == (30, 40) and Image.open(out / "x-1.png").size == (50, 18)
    out_k = tmp_path / "topk"
    assert main(["explain", "--model", str(path), *files, "--out", str(out_k), "--top-k", "2"]) == 0
    sizes = {p.name: Image.open(p).size for p in out_k.glob("*.png")}
    assert sizes == {"x_0.png": (30, 40), "x_1.png": (30, 40), "x-1_0.png": (50, 18), "x-1_1.png": (50, 18)}


def test_explain_target_minus_one_is_the_predicted_class(saved, tmp_path, capsys):
    _, path, images, _ = saved
    assert main(["explain", "--model", str(path), *images, "--out", str(tmp_path), "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)["images"]
    args = [
        "explain",
        "--model",
        str(path),
        *images,
        "--out",
        str(tmp_path),
        "--json",
        "--target-class",
        "-1",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)["images"]
    assert [r["explained_classes"] for r in result] == [[r["predicted_class"]] for r in predicted]
