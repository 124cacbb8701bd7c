"""The seeds' datasets through the commands, end to end on fixtures in the official layouts: the Explainer
trained on PASCAL VOC 2007 (``--data voc2007:ROOT``) with the paper's preset, scored with
``hrcam score --masks`` (test-metrics file, per-image masks) and tabled with ``hrcam tables``; a folder of
CASM maskers scored on CUB-200-2011 in one run; HR-CAM's training data from ``cub:ROOT``."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from official_fixtures import VOC_CLASSES, write_cub, write_voc
from PIL import Image

from hrcam.cli import main
from hrcam.highres import DenseNetFCNConfig, HalfModel

REPO = Path(__file__).resolve().parents[1]
TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=4)
FAST = [  # the paper's VOC preset, shrunk for a 2-core CPU
    "data.image_size=32",
    "data.batch_size=2",
    "classifier.architecture=densenet_fcn",
    "classifier.weights=null",
    "classifier.num_blocks=2",
    "classifier.layers_per_block=1",
    "classifier.growth_rate=4",
    "classifier.initial_filters=8",
    "classifier.epochs=1",
    "explainer.backbone=classifier",
    "explainer.weights=null",
    "explainer.channels=8",
    "explainer.rates=[1, 2]",
    "train.epochs=1",
]


@pytest.mark.slow
def test_explainer_on_voc2007_end_to_end(tmp_path, capsys):
    write_voc(tmp_path / "data")
    run, out = tmp_path / "run", tmp_path / "scores"
    sets = [a for s in FAST for a in ("--set", s)]
    data = f"voc2007:{tmp_path / 'data'}"
    preset = str(REPO / "opts" / "explainer-voc2007.yaml")
    argv = ["train-explainer", "--config", preset, "--data", data, "--run-dir", str(run)]
    assert main([*argv, *sets, "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 1 and (run / "explainer" / "best.keras").is_file()
    text = (run / "test_metrics.txt").read_text()  # the run's test-metrics file, per class
    assert "classifier micro f1" in text and "per class:" in text and "dog" in text and "cat" in text
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["num_images"] == 2 and set(metrics["per_class"]["explainer"]) == {
        "cat",
        "dog",
        "person",
        "mean",
    }

    argv = ["score", "--masks", "--config", preset, "--data", data]
    argv += [
        "--model",
        str(run / "classifier" / "best.keras"),
        "--explainer",
        str(run / "explainer" / "best.keras"),
    ]
    argv += ["--method", "explainer", "--method", "gradcam", "--method", "0", "--method", "perfect"]
    argv += ["--specificity", f"{VOC_CLASSES.index('cat')},{VOC_CLASSES.index('dog')}"]
    assert main([*argv, "--out", str(out), "--save-masks", str(out / "masks"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["num_images"] == 2 and set(scores["table"]) == {"explainer", "gradcam", "0", "perfect"}
    assert scores["table"]["perfect"]["discrete_iou"] == pytest.approx(1.0)
    per_class = json.loads((out / "test_metrics.json").read_text())["per_class"]
    assert per_class["perfect"]["dog"]["soft_f1"] == pytest.approx(1.0, abs=1e-6)
    assert set(per_class["explainer"]["mean"]) >= {"discrete_iou", "auc", "saliency", "mask_coverage"}
    assert "== gradcam ==" in (out / "test_metrics.txt").read_text()
    # per-image masks: one merged PNG per image and method, one per labelled class (000005: dog, person)
    merged = Image.open(out / "masks" / "explainer" / "000005.png")
    assert merged.size == (32, 32) and merged.mode == "L"
    assert sorted(p.name for p in (out / "masks" / "explainer" / "000005").iterdir()) == [
        "dog.png",
        "person.png",
    ]
    perfect = np.asarray(Image.open(out / "masks" / "perfect" / "000007.png"))
    assert set(np.unique(perfect)) <= {0, 255} and perfect.any()

    assert main(["tables", f"vgg16={out}", "--out", str(tmp_path / "tables")]) == 0
    latex = (tmp_path / "tables" / "segmentation.tex").read_text()
    assert "\\begin{tabular}" in latex and "Explainer" in latex and "Ideal" in latex and "Mean F1" in latex
    assert (tmp_path / "tables" / "f1s_vgg16.pdf").is_file()
    capsys.readouterr()
    assert "dog" in (tmp_path / "tables" / "specificity_vgg16.tex").read_text()
    assert main(["tables", str(out / "scores.json"), "--format", "markdown", "--json"]) == 0
    assert "| Mean F1 | scores |" in json.loads(capsys.readouterr().out)["segmentation"]


def test_paper_table_columns_in_the_papers_order():
    from hrcam.explainer.tables import segmentation_table_text

    row = {"discrete_f1": 0.5, "saliency": -1.234}
    names = ["explainer", "igos_pp", "0", "extremal_perturbation", "perfect", "gradcam"]
    text = segmentation_table_text({"vgg16": {"table": {m: row for m in names}}}, "text")
    header = text.splitlines()[0].split()
    assert header[2:] == ["0", "Ideal", "GradCam", "Fong", "19", "iGOS++", "Explainer"]
    assert "-1.23" in text and "nan" in text  # two decimals; a metric a method lacks is nan


@pytest.mark.slow
def test_score_a_folder_of_maskers_on_cub(tmp_path, capsys):
    from hrcam.casm.masker import CasmMasker

    write_cub(tmp_path / "cub")
    maskers = tmp_path / "casms"
    maskers.mkdir()
    keras.utils.set_random_seed(5)
    hm = HalfModel(num_classes=3, input_shape=(32, 32, 3), config=TINY)
    for name in ("L100", "F"):
        CasmMasker(hm.model).save(maskers / f"{name}.keras")
        keras.utils.set_random_seed(6)
    argv = ["score", "--data", f"cub:{tmp_path / 'cub'}", "--method", "casm", "--masker", str(maskers)]
    assert main([*argv, "--method", "center", "--model", str(hm.save(tmp_path / "h.keras")), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["methods"]) == [
        "casm:F",
        "casm:L100",
        "center",
    ]  # one row per masker, as CASM's score.py
    assert result["num_images"] == 3 and all(
        "LE" in row and "PxAP" in row for row in result["methods"].values()
    )


def test_hrcam_training_data_from_cub(tmp_path):
    from hrcam.config import load_config
    from hrcam.training.datasets import load_data

    info = write_cub(tmp_path / "cub")
    cfg = load_config(None, ["data.source=cub", f"data.root={tmp_path / 'cub'}", "data.image_size=16"])
    bundle = load_data(cfg.data)
    assert bundle.class_names == info["classes"] and bundle.info["source"] == "cub"
    assert bundle.test_images.shape == (3, 16, 16, 3) and bundle.test_labels.tolist() == [0, 1, 2]
    assert bundle.test_masks.shape == (3, 16, 16) and len(bundle.test_boxes) == 3  # CUB's exact masks
    x, y = next(iter(bundle.train))
    assert x.shape[1:] == (16, 16, 3)
    with pytest.raises(ValueError, match="the Explainer's"):
        load_config(None, ["data.source=voc2007", "data.root=/x"])
