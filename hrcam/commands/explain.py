"""``hrcam explain``: maps of any map source for image files, written as overlay PNGs at each file's size.

hrcam explain --model run/half.keras --method gradcam images/*.jpg --out maps/
hrcam explain --model run/full.keras --method hrcam img.jpg --out maps/      # the FullModel's high-res map
hrcam explain --model half.keras --method casm --masker casm/best.keras img.jpg --out maps/
hrcam explain --model m.keras --method guided_gradcam --top-k 3 a.png b.png --out maps/ --json
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from hrcam.commands._common import add_colour_arguments, add_source_files, complete_specs, emit

HELP = "maps of any map source (Grad-CAM, HR-CAM, CASM, an Explainer, ...) of a saved model for image files"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    files = "image files (PNG/JPEG/...), or .npy arrays (H, W[, C]) / volumes (D, H, W[, C])"
    parser.add_argument("images", nargs="+", metavar="IMAGE", help=files)
    parser.add_argument(
        "--model", metavar="MODEL.keras", help="a saved Keras model (.keras); or use --server"
    )
    server = parser.add_argument_group("explain with a running TF Serving model instead of --model")
    server.add_argument(
        "--server", metavar="URL", help="REST URL (http://host:8501) or, with --protocol grpc, host:8500"
    )
    server.add_argument("--model-name", metavar="NAME", help="the served model's name (with --server)")
    server.add_argument("--protocol", choices=["rest", "grpc"], default="rest")
    server.add_argument(
        "--signature",
        default="serving_bytes",
        help="serving_bytes (default: files sent as they are), serving_uint8 or serving_default",
    )
    server.add_argument(
        "--model-version", type=int, default=None, help="served version (default: the latest)"
    )
    parser.add_argument(
        "--method",
        default="gradcam",
        help="a map source of hrcam.sources: cam, gradcam, gradcam++, layercam, gradients, guided_backprop, "
        "guided_gradcam, smoothgrad, integrated_gradients, rise, guided_cam, high_res_cam (hrcam), refined, "
        "casm (with --masker), explainer (with --explainer), center, ...; options as NAME:key=value "
        "(default gradcam)",
    )
    add_source_files(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the overlay PNGs")
    parser.add_argument(
        "--layer", default=None, help="layer for CAM methods (default: the last conv-like layer)"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--target-class",
        type=int,
        nargs="+",
        metavar="C",
        help="one class for every image, or one class per image (default: the predicted class)",
    )
    target.add_argument(
        "--top-k",
        type=int,
        metavar="K",
        help="maps for each image's K most probable classes (files <stem>_<j>.png)",
    )
    parser.add_argument(
        "--mode",
        choices=["2D", "3D", "2d", "3d"],
        default=None,
        help="2D images or 3D volumes (default: from the model's input rank)",
    )
    add_colour_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=None, help="SmoothGrad noise samples per image")
    parser.add_argument("--steps", type=int, default=None, help="Integrated Gradients steps")
    parser.add_argument("--save-maps", action="store_true", help="also write the maps as maps.npy")
    parser.add_argument(
        "--figure", action="store_true", help="also write figure.png (all images in one plot)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _load_inputs(paths: list[str], model_shape: tuple, rank: int) -> Any:
    import numpy as np

    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"image file {p!r} does not exist")
    spatial = tuple(model_shape[1:-1])
    channels = model_shape[-1]
    if all(p.lower().endswith(".npy") for p in paths):
        arrays = [np.load(p, allow_pickle=False) for p in paths]
        arrays = [a[..., None] if a.ndim == rank - 2 else a for a in arrays]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f".npy inputs must all have the same shape, got {sorted(shapes)}")
        return np.stack(arrays)
    if any(p.lower().endswith(".npy") for p in paths):
        raise ValueError("pass either image files or .npy arrays, not a mix")
    if rank != 4:
        raise ValueError("3D models take .npy volumes (D, H, W[, C]), not image files")
    from hrcam.data.folder import load_image_files

    size = spatial if all(s is not None for s in spatial) else None
    images = load_image_files(paths, size)
    if channels == 1:
        images = np.round(images.astype(np.float32).mean(axis=-1, keepdims=True)).astype(np.uint8)
    return images


def _suffixed(maps: Any) -> dict[str, Any]:
    """(k, h, w) maps of one image -> ``{"": map}`` for k = 1, else ``{"0": ..., "1": ...}``."""
    return {"": maps[0]} if len(maps) == 1 else {str(j): m for j, m in enumerate(maps)}


def _run_server(args: argparse.Namespace) -> int:
    """Maps computed by a served hrcam export (every head it has), drawn over the files."""
    from hrcam.export.client import explain_from_server

    if not args.model_name:
        raise ValueError("--server needs --model-name (the NAME in /v1/models/NAME)")
    if args.top_k is not None or (args.target_class is not None and len(args.target_class) != 1):
        raise ValueError("with --server, pass at most one --target-class (the export's maps are per class)")
    result = explain_from_server(
        args.server,
        args.model_name,
        list(args.images),
        args.out,
        signature=args.signature,
        protocol=args.protocol,
        class_index=args.target_class[0] if args.target_class else None,
        version=args.model_version,
        alpha=args.alpha,
        cmap=args.cmap,
    )
    emit(result, args.json, [f"wrote the overlays of {len(args.images)} image(s) to {args.out}"])
    return 0


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from hrcam import sources
    from hrcam.highres.loading import classifier_of, load_model
    from hrcam.io import atomic_path, write_json
    from hrcam.plotting.overlays import saliency_plot, save_overlays, unique_stems, write_overlays

    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.server:
        return _run_server(args)
    if not args.model:
        raise ValueError("pass --model MODEL.keras, or --server URL --model-name NAME for a served model")
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"--model {args.model!r} does not exist")
    spec = complete_specs([args.method], args)[0]
    options = {
        "batch_size": args.batch_size,
        "layer": args.layer,
        "n_samples": args.samples,
        "steps": args.steps,
    }
    accepted = sources.option_names(spec)
    for key, flag in (("n_samples", "--samples"), ("steps", "--steps")):
        if options[key] is not None and key not in accepted:
            raise ValueError(f"{flag} does not apply to --method {args.method}")
    options = {k: v for k, v in options.items() if v is not None and k in accepted}
    model = load_model(args.model)
    rank = len(classifier_of(model).inputs[0].shape)
    mode = args.mode.upper() if args.mode else ("3D" if rank == 5 else "2D")
    source = sources.get(spec, model, mode=mode, **options)
    shape = tuple(source.model.inputs[0].shape)
    x = _load_inputs(list(args.images), shape, 4 if mode == "2D" else 5)
    targets: Any = None
    if args.top_k is not None:
        k = int(args.top_k)
        if k < 1:
            raise ValueError(f"--top-k must be >= 1, got {k}")
        probs = source.predict(x)
        if k > probs.shape[-1]:
            raise ValueError(f"--top-k {k} exceeds the model's {probs.shape[-1]} classes")
        targets = np.argsort(-probs, axis=-1)[:, :k]
    elif args.target_class is not None:
        tc = list(args.target_class)
        if len(tc) not in (1, len(x)):
            raise ValueError(f"--target-class takes 1 class or one per image ({len(x)}), got {len(tc)}")
        targets = tc[0] if len(tc) == 1 else tc
    res = source.run(x, targets)  # the explained classes (-1 resolved) come with the maps
    preds, explained, maps = res.preds, res.classes, res.maps
    out = Path(args.out)
    stems = unique_stems(list(args.images))
    if mode == "2D" and not str(args.images[0]).lower().endswith(".npy"):
        # Each overlay at its input file's resolution (the maps are up-sampled to it, as with --server).
        from hrcam.data.folder import load_image_files

        by_image = maps if maps.ndim == 4 else maps[:, None]
        items = (
            (stem, load_image_files([src], None)[0], _suffixed(by_image[i]))
            for i, (stem, src) in enumerate(zip(stems, args.images, strict=True))
        )
        paths = write_overlays(items, out, alpha=args.alpha, cmap=args.cmap)
    else:
        paths = save_overlays(x, maps, out, names=stems, alpha=args.alpha, cmap=args.cmap, mode=mode)
    written = [str(p) for p in paths]
    if args.save_maps:
        with atomic_path(out / "maps.npy") as tmp:
            np.save(tmp, maps)
        written.append(str(out / "maps.npy"))
    if args.figure:
        fig = saliency_plot(x, maps, mode=mode, alpha=args.alpha, cmap=args.cmap)
        with atomic_path(out / "figure.png") as tmp:
            fig.savefig(tmp, dpi=100)
        written.append(str(out / "figure.png"))
    explained = explained.reshape(len(x), -1)
    per_image = []
    for i, src in enumerate(args.images):
        per_image.append({
            "image": src,
            "predicted_class": int(np.argmax(preds[i])),
            "probability": float(np.max(preds[i])),
            "explained_classes": [int(c) for c in explained[i]],
        })  # fmt: skip
    result = {
        "method": source.name,
        "layer": source.layer_name,
        "mode": mode,
        "model": str(args.model),
        "images": per_image,
        "files": written,
    }
    write_json(out / "explain.json", result)
    lines = [f"{source.name}" + (f" on layer {source.layer_name!r}" if source.layer_name else "")]
    lines += [
        f"  {r['image']}: predicted {r['predicted_class']} ({100 * r['probability']:.1f}%), "
        f"explained {r['explained_classes']}"
        for r in per_image
    ]
    lines.append(f"wrote {len(paths)} overlay(s) and explain.json to {out}")
    emit(result, args.json, lines)
    return 0
