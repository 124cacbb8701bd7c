"""hrcam score: the scoring engine on known answers, and the CLI end to end on a tiny model."""

import json

import numpy as np
import pytest

from hrcam.data.bbox import to_edge_boxes
from hrcam.data.synthetic import make_scenes
from hrcam.evaluation.scoring import ScoringData, score_maps
from hrcam.sources.scoring import method_maps


@pytest.fixture(scope="module")
def scenes():
    s = make_scenes(12, image_size=32, num_classes=3, seed=3)
    return ScoringData(
        s.images,
        np.asarray(s.labels),
        [to_edge_boxes(b) for b in s.boxes],
        np.asarray(s.masks, bool),
        exact_masks=True,
    )


def test_perfect_maps_score_perfectly(scenes):
    scores = score_maps(scenes.masks.astype(np.float32), scenes, correct=np.ones(12, bool))
    assert scores["LE"] == 0 and scores["OM"] == 0
    assert scores["box_iou@0.7"] == 1 and scores["pointing_game"] == 1
    assert scores["discrete_iou"] == pytest.approx(1) and scores["energy_pointing_game"] == pytest.approx(1)
    # OM counts classifier mistakes even when the box is right
    assert score_maps(scenes.masks.astype(np.float32), scenes, correct=np.zeros(12, bool))["OM"] == 1


def test_baselines(scenes):
    import keras

    # baselines are map sources like any other: the classifier still gives the predictions
    classifier = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    full = method_maps("full", classifier, scenes.images, scenes.labels)
    assert full.shape == (12, 32, 32) and np.all(full == 1)
    center = method_maps("center", classifier, scenes.images, scenes.labels)
    assert center[0].argmax() in {15 * 32 + 15, 15 * 32 + 16, 16 * 32 + 15, 16 * 32 + 16}
    # the whole-image map covers the object, but its box is the whole image: objects are small here
    s = score_maps(full, scenes, correct=np.ones(12, bool))
    assert s["LE"] == 1 and s["mask_coverage"] == pytest.approx(1)


@pytest.mark.slow
def test_score_cli_on_tiny_full_model(tmp_path, capsys):
    from hrcam.cli import main
    from hrcam.models import DenseNetFCNConfig, FullModel, HalfModel

    cfg = DenseNetFCNConfig(
        num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6
    )
    path = FullModel(HalfModel(3, (32, 32, 3), cfg)).save(tmp_path / "full.keras")
    methods = ["center", "full", "cam", "hrcam", "refined", "gradcam"]
    argv = [
        "score",
        "--model",
        str(path),
        "--data",
        "synthetic",
        "--num-synthetic",
        "9",
        "--workers",
        "0",
        "--out",
        str(tmp_path / "out"),
        "--json",
    ]
    for m in methods:
        argv += ["--method", m]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["methods"]) == methods and result["num_images"] == 9
    for scores in result["methods"].values():
        assert 0 <= scores["LE"] <= 1 and 0 <= scores["discrete_iou"] <= 1
    assert (tmp_path / "out" / "scores.png").is_file()
    assert main(["score", "--model", str(path), "--data", "synthetic", "--method", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err
