"""``hrcam report``: one static HTML page comparing map sources on a set of images.

hrcam report --model run/full/best.keras --source cam --source gradcam --source high_res_cam \\
    --data synthetic --limit 48 --out report.html
hrcam report --model m.keras --source gradcam --source rise images/ more.jpg list.txt --out report.html
hrcam report --model m.keras --source gradcam --data ROOT --split val --limit 300 --assets --out r/index.html

The work is :func:`hrcam.report.make_report`; this module parses, loads the images, prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import add_colour_arguments, add_source_files, complete_specs, emit

HELP = "an HTML page of images x map sources (overlays, predictions, per-image scores, sortable; offline)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "images", nargs="*", metavar="IMAGE", help="image files, folders of images or .txt lists (or --data)"
    )
    parser.add_argument(
        "--model", metavar="MODEL.keras", help="the classifier: a FullModel, HalfModel or Keras model file"
    )
    parser.add_argument(
        "--source",
        "--method",
        dest="sources",
        action="append",
        metavar="SPEC",
        help="a map source of hrcam.sources (repeatable; default cam, gradcam): cam, gradcam, gradcam++, "
        "layercam, rise, high_res_cam, guided_cam, refined, center, casm:masker=M.keras, "
        "explainer:model=E.keras, ... (options as NAME:key=value,...)",
    )
    add_source_files(parser)
    parser.add_argument(
        "--data",
        metavar="ROOT|synthetic",
        help="a folder dataset in the ImageNet layout (labels; boxes in ROOT/bbox/<split>, masks in "
        "ROOT/masks/<split> where present) or 'synthetic' (scenes with exact masks and boxes)",
    )
    parser.add_argument("--split", default=None, help="split folder of --data (default: val, else test)")
    parser.add_argument("--bbox", metavar="DIR", help="directory of the split's XML boxes")
    parser.add_argument(
        "--limit", type=int, metavar="N", help="the first N images (default: all; synthetic 48)"
    )
    parser.add_argument("--seed", type=int, default=12345, help="seed of the synthetic scenes")
    parser.add_argument(
        "--target",
        choices=["label", "predicted"],
        default="label",
        help="class whose map is shown and scored (default: the true class where known, else the predicted)",
    )
    parser.add_argument(
        "--steps", type=int, default=16, help="deletion / insertion steps (0: no faithfulness scores)"
    )
    parser.add_argument("--out", required=True, metavar="REPORT.html", help="the page to write")
    parser.add_argument(
        "--assets", action="store_true", help="write the images beside the page (<stem>_files/), not inline"
    )
    parser.add_argument("--page-size", type=int, default=25, help="images per page of the grid (default 25)")
    parser.add_argument("--title", default=None, help="the page's title")
    add_colour_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def load_images(args: argparse.Namespace, size: tuple[int, int], num_classes: int):
    """The :class:`~hrcam.report.images.ReportImages` the arguments name."""
    from hrcam.report import from_files, from_folder, from_synthetic

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if bool(args.images) == bool(args.data):
        raise ValueError("pass image files / folders / lists, or --data ROOT|synthetic (one of them)")
    if args.images:
        return from_files(args.images, size, limit=args.limit)
    if args.data == "synthetic":
        if size[0] != size[1]:
            raise ValueError(f"synthetic scenes are square; the model takes {size[0]}x{size[1]}")
        return from_synthetic(args.limit or 48, size[0], num_classes, seed=args.seed)
    return from_folder(args.data, size, split=args.split, bbox_dir=args.bbox, limit=args.limit)


def run(args: argparse.Namespace) -> int:
    from hrcam import sources
    from hrcam.report import make_report

    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.model and not Path(args.model).exists():
        raise FileNotFoundError(f"--model {args.model!r} does not exist")
    specs = complete_specs(list(args.sources or ["cam", "gradcam"]), args)
    from hrcam.highres.loading import load_model

    model = load_model(args.model) if args.model else None
    first = sources.get(specs[0], model)  # a clear error for a bad spec or model, before any work
    h, w = (int(d) for d in first.model.inputs[0].shape[1:3])
    images = load_images(args, (h, w), int(first.num_classes))
    summary = make_report(
        model,
        images,
        specs,
        args.out,
        inline=not args.assets,
        **{
            k: getattr(args, k)
            for k in ("page_size", "cmap", "alpha", "target", "steps", "batch_size", "title")
        },
        log=None if args.json else (lambda line: print(f"[hrcam report] {line}", flush=True)),
    )
    lines = [
        f"wrote {summary['report']} ({summary['num_images']} images, maps of the {summary['target']} class)"
    ]
    for name, row in summary["sources"].items():
        scores = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float) and k != "seconds")
        lines.append(f"  {name:<24} {scores}  ({row['seconds']:.1f} s)")
    emit(summary, args.json, lines)
    return 0
