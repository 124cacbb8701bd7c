"""``hrcam evaluate saliency``: COSE (consistency / sensitivity) and deletion / insertion per method.

    hrcam evaluate saliency --model runs/x/best.keras --data ROOT|synthetic --source gradcam --source cam \\
        [--n-images 64] [--checkpoint mid.keras] [--out DIR] [--json]

Registered by :mod:`hrcam.commands.evaluate` (the ``saliency`` task); this module holds its options and run.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the ``saliency`` task (``--model``, ``--data`` come from ``evaluate``)."""
    g = parser.add_argument_group("saliency task (COSE and faithfulness)")
    g.add_argument(
        "--method",
        "--source",
        dest="methods",
        action="append",
        default=[],
        metavar="NAME",
        help="a map source of hrcam.sources (repeatable): cam, gradcam, gradcam++, layercam, scorecam, "
        "gradients, smoothgrad, ig, rise, guided_cam, high_res_cam (a FullModel's), refined, center, "
        "casm:masker=M.keras, explainer:model=E.keras, ... (options as NAME:key=value,...). The masks "
        "task takes [NAME=]SPEC: the source's map of the predicted class, made on the first --classifier",
    )
    g.add_argument("--n-images", type=int, default=64, help="images evaluated (the first N of the split)")
    g.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="CKPT.keras",
        help="a model perturbation for sensitivity (e.g. a mid-training checkpoint; repeatable)",
    )
    g.add_argument("--no-random", action="store_true", help="skip the randomly initialised copy")
    g.add_argument(
        "--transform",
        dest="transforms",
        action="append",
        default=None,
        metavar="NAME",
        help="restrict to these transforms (repeatable; default all 13)",
    )
    g.add_argument(
        "--magnitudes",
        type=float,
        nargs="+",
        default=None,
        metavar="M",
        help="signed fractions in [-1, 1] (default -1 -2/3 -1/3 1/3 2/3 1)",
    )
    g.add_argument("--steps", type=int, default=16, help="deletion / insertion steps")
    g.add_argument(
        "--baseline", choices=["blur", "zero"], default="blur", help="deletion / insertion baseline"
    )
    g.add_argument(
        "--synthetic-classes",
        type=int,
        default=None,
        help="--data synthetic: classes (default the model's); images use seed 2 (not train/val)",
    )
    g.add_argument("--figure-image", type=int, default=0, help="index of the image in the transforms figure")


def _load_data(args: argparse.Namespace, size: tuple[int, int], num_classes: int):
    import numpy as np

    n = args.n_images
    if args.data == "synthetic":
        from hrcam.data.scenes import make_scenes

        scenes = make_scenes(n, image_size=size[0], num_classes=args.synthetic_classes or num_classes, seed=2)
        return scenes.images.astype(np.float32) / 255.0, scenes.labels.astype(np.int64), "synthetic seed 2"
    from hrcam.data.folder import load_image_files
    from hrcam.data.resolve import open_dataset

    data = open_dataset(args.data)
    split = args.split or ("val" if data.has_split("val") else "test")
    files, labels = data.files(split), data.labels(split)
    # an even spread over the classes: every k-th file of the class-ordered listing
    idx = np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int)
    images = load_image_files([files[i] for i in idx], size).astype(np.float32) / 255.0
    return images, labels[idx].astype(np.int64), f"{args.data} [{split}]"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from hrcam.commands._common import emit
    from hrcam.evaluation.cose import transforms as T
    from hrcam.evaluation.cose.report import format_rows, transforms_figure, write_report
    from hrcam.highres import load_model
    from hrcam.plotting.charts import save_figure
    from hrcam.sources.cose import evaluate_methods, method_source, random_copy

    if not args.methods:
        raise ValueError("`--method` is required for the saliency task (e.g. --method gradcam --method cam)")
    if args.n_images < 1:
        raise ValueError(f"`--n-images` must be >= 1, got {args.n_images}")
    paths = args.model if isinstance(args.model, list) else [args.model]
    models = {}
    for i, p in enumerate(paths):
        name = Path(p).stem if Path(p).stem not in ("best", "model") else Path(p).parent.name
        models[name if name not in models else f"{name}_{i}"] = load_model(p)
    shapes = {
        tuple(m.input_shape[1:3]) if not hasattr(m, "num_classes") else tuple(m.input_shape[:2])
        for m in models.values()
    }
    if len(shapes) != 1:
        raise ValueError(f"all --model files must take the same image size, got {sorted(shapes)}")
    first = next(iter(models.values()))
    num_classes = getattr(first, "num_classes", None) or int(first.output_shape[-1])
    images, labels, data_desc = _load_data(args, shapes.pop(), num_classes)
    perturbations = {}
    for name, model in models.items():
        p = {} if args.no_random else {"random": random_copy(model)}
        p.update({Path(c).stem: load_model(c) for c in args.checkpoint})
        perturbations[name] = p
    rows = evaluate_methods(
        models,
        images,
        labels,
        args.methods,
        transforms=args.transforms,
        magnitudes=args.magnitudes or T.DEFAULT_MAGNITUDES,
        perturbations=perturbations,
        steps=args.steps,
        baseline=args.baseline,
        batch_size=args.batch_size,
        log=None if args.json else print,
    )
    written = []
    if args.out:
        out = Path(args.out)
        written = write_report(
            rows, out, {"data": data_desc, "n_images": len(images), "methods": args.methods}
        )
        i = min(max(args.figure_image, 0), len(images) - 1)
        for name, model in models.items():
            for method in args.methods:
                src = method_source(model, method, batch_size=args.batch_size)
                fig = transforms_figure(src, images[i])
                slug = re.sub(r"[^A-Za-z0-9_.+-]+", "-", f"{name}_{src.name}")
                written.append(save_figure(fig, out / f"transforms_{slug}.png"))
    lines = [f"{data_desc}: {len(images)} images", *format_rows(rows)]
    lines += [f"wrote {p}" for p in written]
    emit({"data": data_desc, "results": rows, "written": [str(p) for p in written]}, args.json, lines)
    return 0 if np.all([r["n_correct"] > 0 for r in rows]) else 1
