"""`hrcam demo` end to end on a tiny configuration, twice (the second run reuses everything)."""

import json

import pytest

from hrcam.cli import main

TINY = [
    "data.image_size=32",
    "data.train_size=48",
    "data.val_size=12",
    "data.test_size=12",
    "model.num_blocks=2",
    "model.layers_per_block=2",
    "model.growth_rate=4",
    "model.initial_filters=8",
    "half.epochs=1",
    "full.epochs=1",
]


@pytest.mark.slow
def test_demo_writes_everything_and_is_idempotent(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--quiet", "--json", "--num-overlays", "3"]
    for item in TINY:
        argv += ["--set", item]
    assert main(argv) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    outputs = summary["outputs"]
    for key in ("metrics", "localisation chart", "CAM grid", "pipeline figure", "SavedModel"):
        assert key in outputs
    for rel in (
        "cams.png",
        "pipeline.png",
        "localisation.png",
        "run/metrics.json",
        "run/half/best.keras",
        "run/full/best.keras",
        "run/full_distil/best.keras",
        "serving/hrcam/1/saved_model.pb",
        "serving/models.config",
    ):
        assert (out / rel).is_file(), rel
    assert len(list((out / "overlays" / "high_res").glob("*.png"))) == 3
    assert len(list((out / "overlays" / "guided").glob("*.png"))) == 3
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert metrics["full_vs_half_same_predictions"] == 1.0
    assert set(metrics["localisation"]) == {
        "low-res CAM",
        "high-res CAM (reconstruct)",
        "guided CAM (no training)",
        "high-res CAM (distil)",
    }
    assert all("pxap" in v for v in metrics["localisation"].values())

    assert main(argv) == 0  # again: nothing retrained, nothing re-exported
    assert not (out / "serving" / "hrcam" / "2").exists()
    assert "already exported" in capsys.readouterr().out
