"""``hrcam evaluate masks``: masked-in / masked-out / inpainted images of the maps of any map source (CASM
maskers, Grad-CAM, an Explainer, ...; and toy masks) classified by a set of classifiers (called from
:mod:`hrcam.commands.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import emit

TOYS = ["zeros", "ones", "bernoulli-coarse", "bernoulli-fine"]


def add_masks_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("masks (hrcam evaluate masks)")
    g.add_argument(
        "--masker", action="append", default=[], metavar="[NAME=]M.keras", help="a CASM masker (repeatable)"
    )
    g.add_argument(
        "--classifier",
        action="append",
        default=[],
        metavar="[NAME=]MODEL.keras",
        help="a classifier judging the masked images (repeatable; best: ones that did not train the masker)",
    )
    g.add_argument("--toy", action="append", default=[], choices=TOYS, help="control masks (repeatable)")
    g.add_argument("--num-synthetic", type=int, default=300, help="images when --data synthetic")
    g.add_argument("--seed", type=int, default=12345, help="seed of the synthetic scenes and toy masks")
    g.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    g.add_argument(
        "--figure", type=int, default=0, metavar="N", help="also draw Figure 2 for N images per masker"
    )


def _named(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, path = item.rpartition("=")
        out[name or Path(path).stem] = path
    return out


def _source_item(item: str) -> tuple[str, str]:
    """``NAME=SPEC`` or ``SPEC`` -> (name or "", spec) (``rise:n_masks=8`` has no name: ``:`` comes first)."""
    name, sep, spec = item.partition("=")
    return (name.strip(), spec.strip()) if sep and ":" not in name else ("", item.strip())


def _load_classifier(path: str):
    from hrcam.highres import load_model

    return load_model(path)


def run_masks(args: argparse.Namespace) -> int:
    import numpy as np

    from hrcam import sources
    from hrcam.casm.masks_eval import chart, evaluate_masks, figure2, table_lines, toy_masks
    from hrcam.highres.loading import classifier_of
    from hrcam.plotting.charts import save_figure

    if not args.classifier:
        raise ValueError("evaluate masks needs at least one --classifier MODEL.keras")
    if not args.masker and not args.methods and not args.toy:
        raise ValueError("evaluate masks needs a --masker M.keras, a --source [NAME=]SPEC or a --toy mask")
    classifiers = {n: _load_classifier(p) for n, p in _named(args.classifier).items()}
    first = next(iter(classifiers.values()))
    specs = {n: f"casm:masker={p}" for n, p in _named(args.masker).items()}  # a masker is the casm source
    specs.update({n if n else sources.label(spec): spec for n, spec in map(_source_item, args.methods)})
    made = {n: sources.get(spec, first, batch_size=args.batch_size) for n, spec in specs.items()}
    shape = next(iter(made.values())).model.inputs[0].shape if made else classifier_of(first).inputs[0].shape
    h, w = int(shape[1]), int(shape[2])
    num_classes = int(classifier_of(first).outputs[0].shape[-1])
    if args.data == "synthetic":
        from hrcam.data.synthetic import make_scenes

        scenes = make_scenes(args.num_synthetic, image_size=h, num_classes=num_classes, seed=args.seed)
        images, labels = scenes.images, np.asarray(scenes.labels)
    else:
        from hrcam.data.folder import load_image_files
        from hrcam.data.resolve import open_dataset

        folder = open_dataset(args.data)
        split = args.split or ("val" if folder.has_split("val") else "test")
        images, labels = load_image_files(folder.files(split), (h, w)), folder.labels(split)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    masks = {n: np.asarray(source.run(images).maps) for n, source in made.items()}
    for t in args.toy:
        masks[f"toy-{t}"] = toy_masks(t, len(images), (h, w), seed=args.seed)
    result = evaluate_masks(images, labels, classifiers, masks, batch_size=args.batch_size)
    result.update(
        data=str(args.data),
        num_images=int(len(labels)),
        classifiers=_named(args.classifier),
        maskers=_named(args.masker),
        sources=specs,
    )
    lines = table_lines(result)
    if args.out:
        from hrcam.io import write_json

        out = Path(args.out)
        write_json(out / "masks.json", result)
        save_figure(chart(result), out / "masks_top1.png")
        for name in made if args.figure else []:
            save_figure(
                figure2(images[: args.figure], masks[name][: args.figure]), out / f"figure2_{name}.png"
            )
        lines.append(
            f"wrote {out / 'masks.json'}, {out / 'masks_top1.png'}"
            + (" and figure2_*.png" if args.figure else "")
        )
    emit(result, args.json, lines)
    return 0
