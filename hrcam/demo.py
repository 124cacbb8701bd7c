"""The ``hrcam demo`` workflow: the whole HR-CAM job on built-in synthetic data, offline, in a few minutes
on a CPU.

Generates synthetic scenes, trains a HalfModel (stage 1) then two FullModels (stage 2 with the paper's
``reconstruct`` objective and with ``distil``, the redesigned resize expansion path), scores the low-res
CAM, the paper's high-res CAM, the image-guided up-sampled CAM (no training) and the ``distil`` high-res CAM
against the exact masks, and writes overlays, the refinement-pipeline figure, metrics (JSON + charts) and a
SavedModel for TF Serving. Run it again and it resumes / reuses what is already trained in ``out``.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["DEMO_PRESET", "DEMO_OBJECTIVES", "demo_config", "run_demo"]

DEMO_PRESET = "demo"
DEMO_OBJECTIVES = ("reconstruct", "distil")  # the paper's expansion path, and the redesigned one


def demo_config(config: str | Path | None = None, overrides: list[str] | None = None):
    """The demo's :class:`hrcam.config.Config`: ``config`` (a file or preset name) or the ``demo`` preset
    shipped with the package, with ``overrides`` (``SECTION.KEY=VALUE``) applied."""
    from hrcam import config as hrcam_config

    return hrcam_config.load_config(DEMO_PRESET if config is None else config, overrides)


def _step(message: str) -> None:
    print(f"[hrcam demo] {message}", flush=True)


def run_demo(config, out: Path, num_overlays: int = 8, export: bool = True, verbose=2) -> dict:
    """Run the demo (see the module docstring); returns a JSON-ready summary with the output paths."""
    import numpy as np

    from hrcam.highres.report import cam_localisation, update_metrics
    from hrcam.highres.workflow import full_stage_name, train_stage
    from hrcam.io import write_json
    from hrcam.training.datasets import load_data

    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    _step(
        f"generating synthetic scenes ({config.data.train_size} train, {config.data.val_size} val, "
        f"{config.data.test_size} test, {config.data.image_size}x{config.data.image_size})"
    )
    data = load_data(config.data)
    _step(f"stage 1: training the HalfModel for {config.half.epochs} epochs")
    stage1 = train_stage(config, "half", verbose=verbose, data=data)
    half_summary, half = stage1.summary, stage1.model
    _step(f"HalfModel test top-1 accuracy {half_summary['top1_accuracy']:.3f}")
    fulls = {}
    for objective in DEMO_OBJECTIVES:
        stage = full_stage_name(objective)
        config.full.objective = objective
        _step(f"stage 2 ({objective}): training the FullModel expansion path for {config.full.epochs} epochs")
        fulls[objective] = train_stage(config, stage, verbose=verbose, data=data).model
    config.full.objective = "reconstruct"

    _step("computing CAMs for the test set and scoring them against the exact masks")
    images, labels, masks = data.test_images, data.test_labels, data.test_masks
    high, low, guided, probs = fulls["reconstruct"].generate_cams(images, custom_class=labels, guided=True)
    high_new, _, probs_new = fulls["distil"].generate_cams(images, custom_class=labels)
    same = float(np.mean(probs.argmax(1) == half.predict(images)) * np.mean(probs_new == probs))
    maps = {
        "low-res CAM": low,
        "high-res CAM (reconstruct)": high,
        "guided CAM (no training)": guided,
        "high-res CAM (distil)": high_new,
    }
    table = cam_localisation(maps, masks)
    paths = {"run directory": config.run_dir}
    metrics_path = Path(config.run_dir) / "metrics.json"
    update_metrics(metrics_path, "localisation", table)
    update_metrics(metrics_path, "full_vs_half_same_predictions", same)
    paths["metrics"] = str(metrics_path)

    from hrcam.plotting.charts import metrics_bar_figure, save_figure

    chart = save_figure(
        metrics_bar_figure(table, "CAM vs exact masks (synthetic test set)"), out / "localisation.png"
    )
    paths["localisation chart"] = str(chart)

    _step("drawing overlays")
    from hrcam.plotting.grids import cam_grid_figure
    from hrcam.plotting.overlays import save_overlays

    k = min(num_overlays, len(images))
    names = [f"test{i:03d}_{data.class_names[labels[i]]}" for i in range(k)]
    save_overlays(images[:k], low[:k], out / "overlays" / "low_res", names)
    save_overlays(images[:k], high[:k], out / "overlays" / "high_res", names)
    save_overlays(images[:k], guided[:k], out / "overlays" / "guided", names)
    save_overlays(images[:k], high_new[:k], out / "overlays" / "high_res_distil", names)
    grid = cam_grid_figure(
        images[:k],
        {
            "low-res": low[:k],
            "paper high-res": high[:k],
            "guided (new)": guided[:k],
            "distil high-res (new)": high_new[:k],
            "true mask": masks[:k].astype(np.float32),
        },
        row_titles=[data.class_names[c] for c in labels[:k]],
    )
    paths["overlays"] = str(out / "overlays")
    paths["CAM grid"] = str(save_figure(grid, out / "cams.png"))

    _step("refinement pipeline on one test image")
    from hrcam.highres.refine.figure import plot_pipeline

    confidence = np.where(probs.argmax(1) == labels, probs.max(1), -1.0)
    best = int(np.argmax(confidence))  # the most confident correct prediction: a readable figure
    fig = plot_pipeline(images[best], low[best], guided[best])  # the pipeline on the guided map
    paths["pipeline figure"] = str(save_figure(fig, out / "pipeline.png"))

    if export:
        from hrcam.export import export_saved_model, list_versions

        base = out / "serving"
        versions = list_versions(base / "hrcam")
        if versions:  # a re-run reuses the trained models, so the export already there is the same model
            _step(f"SavedModel already exported: {base / 'hrcam' / str(versions[-1])}")
            paths["SavedModel"] = str(base / "hrcam" / str(versions[-1]))
        else:
            _step("exporting a SavedModel with CAM, high-res CAM and Grad-CAM heads for TF Serving")
            result = export_saved_model(fulls["reconstruct"], base, "hrcam", class_names=data.class_names)
            paths["SavedModel"] = str(result.path)

    scores = {
        "half top-1 accuracy": round(half_summary["top1_accuracy"], 4),
        "full == half predictions": same,
        **{f"IoU {name}": round(v.get("discrete_iou", float("nan")), 4) for name, v in table.items()},
        **{f"PxAP {name}": round(v.get("pxap", float("nan")), 4) for name, v in table.items()},
    }
    summary = {"seconds": time.time() - start, "outputs": paths, "scores": scores}
    write_json(out / "summary.json", summary)
    return summary
