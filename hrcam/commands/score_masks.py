"""``hrcam score --masks``: the Explainer's evaluation on data with per-class masks (called from
:mod:`hrcam.commands.score`).

    hrcam score --masks --config opts/explainer-synthetic.yaml --model RUN/classifier/best.keras \\
        --explainer RUN/explainer/best.keras --rtsal RUN2/explainer/best.keras --data synthetic \\
        --method 0 --method 0.5 --method 1 --method perfect --method gradcam --method rise \\
        --method guidedbackprop --method rtsal --method explainer \\
        --specificity 0,1,2,3,4 --out DIR --save-maps --save-masks DIR/masks

``--data`` also takes the official layouts (``voc2007:ROOT``, ``coco2014:ROOT``, ``cub:ROOT``, ...; the
test split is then the layout's images with masks). ``--out`` gets ``scores.json``, ``test_metrics.txt`` /
``.json`` (every metric over all images, per class and averaged over the classes) and the specificity
heatmaps;
``hrcam tables OUT/scores.json`` prints the paper's tables from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import emit

__all__ = ["add_mask_arguments", "run_masks"]


def add_mask_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("per-class masks (the Explainer's evaluation; needs --masks)")
    g.add_argument("--masks", action="store_true", help="score per-class maps on data with per-class masks")
    g.add_argument(
        "--config", metavar="YAML", help="explainer experiment (its data section; default: synthetic)"
    )
    g.add_argument("--explainer", metavar="MODEL.keras", help="a trained Explainer (method 'explainer')")
    g.add_argument("--rtsal", metavar="MODEL.keras", help="a trained RT-Saliency network (method 'rtsal')")
    g.add_argument("--rise-masks", type=int, default=2000, metavar="N", help="RISE's number of masks")
    g.add_argument("--specificity", metavar="C1,C2,...", help="classes of the class-specificity matrix")
    g.add_argument("--save-maps", action="store_true", help="write the merged maps to OUT/maps_<method>.npz")
    masks = "write each image's masks as PNGs: DIR/<method>/<stem>.png (max-merged over its classes) and "
    masks += "DIR/<method>/<stem>/<class>.png per labelled class"
    g.add_argument("--save-masks", metavar="DIR", help=masks)


def run_masks(args: argparse.Namespace) -> int:
    import keras
    import numpy as np

    import hrcam.explainer.network  # noqa: F401  (registers hrcam's Keras classes)
    from hrcam.data.masks import mask_data
    from hrcam.explainer.config import load_explainer_config
    from hrcam.sources.class_masks import evaluate_methods

    classifier = keras.saving.load_model(args.model)
    over = [
        f"data.image_size={int(classifier.input_shape[1])}",
        f"data.num_classes={int(classifier.output_shape[-1])}",
    ]
    if args.data != "synthetic":
        from hrcam.data.resolve import data_overrides

        over += data_overrides(args.data)  # ROOT, voc2007:ROOT, coco2014:ROOT, cub:ROOT, ...
    cfg = load_explainer_config(args.config, over)
    data = mask_data(cfg.data, args.split or "test")
    if args.limit:
        data = data.subset(int(args.limit))
    files = {"explainer": args.explainer, "rtsal": args.rtsal}  # --explainer / --rtsal complete the names
    specs = {}
    for m in args.method:
        if m.lower() in files and files[m.lower()] is None:
            raise ValueError(f"--method {m} needs --{m.lower()} MODEL.keras (or explainer:model=MODEL.keras)")
        specs[m] = f"explainer:model={files[m.lower()]}" if m.lower() in files else m
    classes = None
    if args.specificity:
        try:
            classes = [int(c) for c in args.specificity.split(",")]
        except ValueError:
            raise ValueError(
                f"--specificity must be comma-separated class ids, got {args.specificity!r}"
            ) from None
    names = dict(zip(specs.values(), specs, strict=True))  # report under the names the user gave
    on_maps, written = None, []
    if args.save_masks:
        from hrcam.explainer.saved_masks import image_stems, save_mask_pngs

        stems = image_stems(data.files, len(data))

        def on_maps(method, merged, per_class):
            n = save_mask_pngs(
                args.save_masks,
                names.get(method, method),
                stems,
                merged,
                per_class,
                data.labels,
                data.class_names,
            )
            written.append(n)

    res = evaluate_methods(
        list(specs.values()),
        data.images,
        data.labels,
        data.masks,
        classifier,
        batch_size=args.batch_size,
        rise_masks=args.rise_masks,
        specificity_classes=classes,
        seed=args.seed,
        class_names=data.class_names,
        on_maps=on_maps,
    )
    res = {
        k: ({names.get(m, m): v for m, v in val.items()} if k != "none" else val) for k, val in res.items()
    }
    maps = res.pop("maps")
    res["f1_curves"] = res.get("f1_curves", {})
    result = {"num_images": len(data), "class_names": list(data.class_names), **res}
    result["specificity_classes"] = classes or []
    lines = _lines(result)
    if args.out:
        from hrcam.explainer.tables import test_metrics_text
        from hrcam.io import atomic_path, write_json, write_text

        out = Path(args.out)
        write_json(out / "scores.json", result)
        metrics = {k: result[k] for k in ("num_images", "class_names", "table", "per_class")}
        write_json(out / "test_metrics.json", metrics)
        write_text(out / "test_metrics.txt", test_metrics_text(result, f"hrcam score --masks: {args.data}"))
        if classes is not None:
            from hrcam.plotting.specificity import save_specificity_heatmaps

            save_specificity_heatmaps(result["specificity"], [data.class_names[c] for c in classes], out)
        if args.save_maps:
            for name, m in maps.items():
                with atomic_path(out / f"maps_{name}.npz", suffix=".npz") as tmp:
                    np.savez_compressed(tmp, maps=m.astype(np.float16))
        lines.append(f"wrote {out}/scores.json and {out}/test_metrics.txt (per class)")
    if args.save_masks:
        lines.append(f"wrote {sum(written)} mask PNGs under {args.save_masks}")
    return emit(result, args.json, lines) or 0


def _lines(result: dict) -> list[str]:
    table: dict[str, dict[str, float]] = result["table"]
    metrics = [m for m in next(iter(table.values()))]
    cells = [["method", *(m[:12] for m in metrics)]]
    cells += [[name, *(f"{row[m]:.4f}" for m in metrics)] for name, row in table.items()]
    lines = [f"{result['num_images']} images; maps max-merged over each image's classes"]
    lines += [f"{r[0]:<16}" + "".join(f"{v:>13}" for v in r[1:]) for r in cells]
    for name, mat in result.get("specificity", {}).items():
        lines.append(f"class specificity ({name}): rows = target class, columns = mask class")
        lines += ["  " + " ".join(f"{v:6.3f}" for v in row) for row in mat]
    return lines
