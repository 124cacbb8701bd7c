"""``hrcam score``: localisation (and, with exact masks, segmentation) scores of several methods."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import complete_specs, emit, expand_masker_dirs

HELP = "score saliency methods against boxes (folder dataset) or exact masks (synthetic data)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--model",
        metavar="MODEL.keras",
        help="the classifier: a FullModel, HalfModel or Keras model file (not needed for casm alone)",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="ROOT|SOURCE:ROOT|synthetic",
        help="dataset: a folder in the ImageNet layout with XML boxes, cub:ROOT (CUB-200-2011, boxes and "
        "masks), 'synthetic'; with --masks also voc2007:ROOT, voc2012:ROOT, coco2014:ROOT, coco2017:ROOT",
    )
    parser.add_argument(
        "--bbox", metavar="DIR", help="directory of the split's XML boxes (default ROOT/bbox/<split>)"
    )
    parser.add_argument("--split", default=None, help="split folder (default: val, else test)")
    parser.add_argument(
        "--method",
        action="append",
        metavar="NAME",
        required=True,
        help="a map source (hrcam.sources: center, ones, cam, high_res_cam, guided_cam, refined, gradcam, "
        "gradcam++, layercam, multilayer_cam, rise, casm:masker=M.keras, explainer:model=E.keras, ...; "
        "options as NAME:key=value,...); repeatable. Scores include PxAP (exact masks) and MaxBoxAccV2 "
        "(Choe et al.: IoU 0.3/0.5/0.7, step 0.01)",
    )
    parser.add_argument(
        "--target",
        choices=["label", "predicted"],
        default="label",
        help="class whose map is scored (default: the true label)",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="score only the first N images")
    parser.add_argument("--num-synthetic", type=int, default=300, help="images when --data synthetic")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the synthetic test scenes")
    parser.add_argument("--workers", type=int, default=None, help="processes for the refinement pipeline")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", metavar="DIR", help="write scores.json and scores.png here")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    casm = parser.add_argument_group("CASM")
    casm.add_argument(
        "--masker",
        metavar="M.keras|DIR",
        help="the masker of --method casm (= casm:masker=M.keras); a folder scores every .keras masker in "
        "it, one row each (CASM's score.py over a folder of maskers)",
    )
    casm.add_argument(
        "--casm-protocol",
        action="store_true",
        help="the original CASM protocol on folder data: Resize(--resize) + CenterCrop with mapped boxes, "
        "only the image's own class's boxes",
    )
    casm.add_argument(
        "--resize", type=int, metavar="S", help="shorter side before the centre crop (CASM: 224 for 224)"
    )
    from hrcam.commands.score_masks import add_mask_arguments  # the Explainer's per-class-mask protocol

    add_mask_arguments(parser)


def load_scoring_data(args, model):
    import numpy as np

    from hrcam.data.bbox import to_edge_boxes
    from hrcam.evaluation.scoring import ScoringData

    h, w, _ = model.input_shape
    if args.data == "synthetic":
        from hrcam.data.synthetic import make_scenes

        if h != w:
            raise ValueError(f"synthetic scenes are square; the model takes {h}x{w}")
        scenes = make_scenes(args.num_synthetic, image_size=h, num_classes=model.num_classes, seed=args.seed)
        data = ScoringData(
            scenes.images,
            np.asarray(scenes.labels),
            [to_edge_boxes(b) for b in scenes.boxes],
            np.asarray(scenes.masks, bool),
            exact_masks=True,
        )
    else:
        from hrcam.data.folder import load_image_files
        from hrcam.data.resolve import open_dataset
        from hrcam.evaluation.localisation import boxes_to_masks

        folder = open_dataset(args.data, bbox_dir=args.bbox)  # ROOT, folder:ROOT or cub:ROOT
        split = args.split or ("val" if folder.has_split("val") else "test")
        if folder.num_classes != model.num_classes:
            raise ValueError(
                f"the model has {model.num_classes} classes but {args.data} has {folder.num_classes}"
            )
        files = folder.files(split)
        boxes = [to_edge_boxes(b) for b in folder.boxes(split, image_size=(h, w))]
        exact = getattr(folder, "name", "") == "cub" and bool(folder.has_masks(folder.ids("test")).all())
        data = ScoringData(
            load_image_files(files, (h, w)),
            folder.labels(split),
            boxes,
            folder.masks(split, (h, w)) if exact else boxes_to_masks(boxes, (h, w)),
            exact_masks=exact,  # CUB-200-2011's segmentations: PxAP and the segmentation scores too
        )
    if args.limit:
        n = int(args.limit)
        data = ScoringData(data.images[:n], data.labels[:n], data.boxes[:n], data.masks[:n], data.exact_masks)
    return data


def run(args: argparse.Namespace) -> int:
    if getattr(args, "masks", False):  # per-class masks: hrcam/commands/score_masks.py
        from hrcam.commands.score_masks import run_masks

        return run_masks(args)
    from types import SimpleNamespace

    from hrcam import sources
    from hrcam.highres import load_model
    from hrcam.sources.scoring import score_methods

    names, specs = expand_masker_dirs(list(args.method), complete_specs(list(args.method), args))
    model = load_model(args.model) if args.model else None
    first = sources.get(specs[0], model, batch_size=args.batch_size)  # a clear error for a bad spec / model
    h, w, c = (int(d) for d in first.model.inputs[0].shape[1:])
    if args.casm_protocol:
        from hrcam.casm.scoring import protocol_data
        from hrcam.data.resolve import parse_data_spec

        source, root = parse_data_spec(args.data)
        if source != "folder":
            raise ValueError(f"--casm-protocol applies to folder datasets (ImageNet layout), not {source}")
        data = protocol_data(root, h, args.resize, args.split, args.bbox, limit=args.limit)
    else:
        data = load_scoring_data(args, SimpleNamespace(input_shape=(h, w, c), num_classes=first.num_classes))
    result = score_methods(
        model,
        data,
        specs,
        target=args.target,
        workers=args.workers,
        batch_size=args.batch_size,
        progress=not args.json,
    )
    result["methods"] = dict(zip(names, result["methods"].values(), strict=True))
    result["model"] = str(args.model)
    result["data"] = str(args.data)
    lines = _table(result)
    if args.out:
        from hrcam.io import write_json
        from hrcam.plotting.charts import metrics_bar_figure, save_figure

        out = Path(args.out)
        write_json(out / "scores.json", result)
        keys = ["LE", "OM", "F1", "box_iou@0.5", "MaxBoxAccV2", "pointing_game", "energy_pointing_game"]
        if data.exact_masks:
            keys += ["PxAP", "discrete_iou", "soft_f1", "auc"]
        save_figure(
            metrics_bar_figure(result["methods"], f"scores on {args.data}", metrics=keys), out / "scores.png"
        )
        lines.append(f"wrote {out / 'scores.json'} and {out / 'scores.png'}")
    emit(result, args.json, lines)
    return 0


def _table(result: dict) -> list[str]:
    methods = result["methods"]
    metrics = list(next(iter(methods.values())))
    width = max(12, *(len(m) for m in methods))
    lines = [
        f"{result['num_images']} images, classifier top-1 {result['top1_accuracy']:.3f}, maps of the "
        f"{'true' if result['target'] == 'label' else 'predicted'} class (LE, OM: lower is better)"
    ]
    lines.append(f"{'method':<{width}} " + " ".join(f"{m:>13}" for m in metrics))
    for name, scores in methods.items():
        lines.append(f"{name:<{width}} " + " ".join(f"{scores[m]:>13.4f}" for m in metrics))
    return lines
