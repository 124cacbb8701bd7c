"""``hrcam evaluate classification | saliency | masks``: classification metrics and confusion matrix, COSE and
deletion / insertion per saliency method, CASM masked-in / masked-out / inpainted classification."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands import evaluate_saliency
from hrcam.commands._common import emit, load_hrcam_model

HELP = (
    "evaluate a saved model on a folder dataset: classification (metrics, confusion-matrix plot) or saliency "
    "(COSE consistency / sensitivity and deletion / insertion per method) or masks (CASM maskers: masked-in, "
    "masked-out and inpainted images judged by a set of classifiers)"
)


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("task", choices=["classification", "saliency", "masks"], help="what to evaluate")
    parser.add_argument(
        "--model",
        action="append",
        metavar="MODEL.keras",
        help="a HalfModel or FullModel file (saliency: any Keras classifier; repeatable)",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="ROOT|cub:ROOT|synthetic",
        help="dataset: a folder in the ImageNet layout, cub:ROOT (CUB-200-2011) (saliency, masks: also "
        "'synthetic')",
    )
    parser.add_argument("--split", default=None, help="split folder to evaluate (default: val, else test)")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write metrics.json and confusion.png (saliency: "
        "cose.json, cose_heatmap.png, transforms_*.png) here",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate_saliency.add_arguments(parser)
    from hrcam.commands.evaluate_masks import add_masks_arguments  # CASM masks (issue 11)

    add_masks_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hrcam.data.folder import load_image_files
    from hrcam.data.resolve import open_dataset
    from hrcam.highres.report import evaluate_classifier
    from hrcam.io import write_json

    if args.task == "masks":  # CASM masks (issue 11)
        from hrcam.commands.evaluate_masks import run_masks

        return run_masks(args)
    if not args.model:
        raise ValueError(f"evaluate {args.task} needs --model MODEL.keras")
    if args.task == "saliency":
        return evaluate_saliency.run(args)
    if len(args.model) > 1:
        raise ValueError(f"classification takes one --model, got {len(args.model)}")
    model = load_hrcam_model(args.model[0])
    data = open_dataset(args.data)  # ROOT, folder:ROOT or cub:ROOT
    split = args.split or ("val" if data.has_split("val") else "test")
    if model.num_classes != data.num_classes:
        raise ValueError(
            f"the model has {model.num_classes} classes but {args.data} has {data.num_classes} class folders"
        )
    h, w, _ = model.input_shape
    images = load_image_files(data.files(split), (h, w))
    out = Path(args.out) if args.out else None
    metrics = evaluate_classifier(
        model,
        images,
        data.labels(split),
        list(data.class_names),
        plot_path=out / "confusion.png" if out else None,
        batch_size=args.batch_size,
    )
    metrics["split"] = split
    metrics["model"] = str(args.model[0])
    if out:
        write_json(out / "metrics.json", metrics)
    lines = [f"{split}: {metrics['num_examples']} images, {data.num_classes} classes"]
    lines += [
        f"{k:>16}: {100 * metrics[k]:.2f}%"
        for k in metrics
        if k.endswith(("accuracy", "precision", "recall", "f1"))
    ]
    if out:
        lines.append(f"wrote {out / 'metrics.json'} and {out / 'confusion.png'}")
    emit(
        {k: v for k, v in metrics.items() if k != "per_class"} | {"per_class": metrics["per_class"]},
        args.json,
        lines,
    )
    return 0
