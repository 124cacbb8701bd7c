"""``hrcam export``: a SavedModel with saliency signatures, in TF Serving's layout BASE/NAME/VERSION."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import add_source_files, complete_specs, emit

HELP = "export a model with saliency heads (any traceable map source) as a SavedModel for TF Serving"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    model = "a HalfModel, FullModel or any Keras classifier saved as .keras"
    parser.add_argument("--model", required=True, metavar="MODEL.keras", help=model)
    base = "TF Serving base directory; the export goes to BASE/NAME/VERSION"
    parser.add_argument("--out", required=True, metavar="BASE", help=base)
    parser.add_argument("--name", required=True, help="model name (the NAME in /v1/models/NAME:predict)")
    parser.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="version number (default: the next integer); an existing version is never overwritten",
    )
    parser.add_argument(
        "--heads",
        metavar="LIST",
        help="comma-separated map sources to serve (hrcam.sources): cam, high_res_cam, gradcam, guided_cam, "
        "gradcam++, layercam, casm (with --masker), explainer (with --explainer), center, ...; options as "
        "NAME:key=value; 'none' for a bare classifier (default: cam, high_res_cam for a FullModel, gradcam)",
    )
    add_source_files(parser)
    parser.add_argument(
        "--top-k", type=int, default=5, metavar="K", help="classes in the classes/scores outputs"
    )
    parser.add_argument(
        "--gradcam-layer",
        metavar="LAYER",
        help="Grad-CAM layer (default: conv_aux for hrcam models, else the last 4-D layer)",
    )
    parser.add_argument("--class-names", metavar="FILE", help="text file with one class name per line")
    parser.add_argument(
        "--no-warmup", action="store_true", help="do not write assets.extra/tf_serving_warmup_requests"
    )
    parser.add_argument(
        "--warmup-batch-sizes",
        type=_int_list,
        default=[1],
        metavar="LIST",
        help="batch sizes of the warm-up requests, e.g. 1,8 (default: 1)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip reloading the export and checking it against the model before publishing it",
    )
    parser.add_argument(
        "--config-base-path",
        default="/models",
        metavar="DIR",
        help="BASE as TF Serving sees it, written into BASE/models.config (default: /models, the "
        "container mount point)",
    )
    parser.add_argument("--no-model-config", action="store_true", help="do not write BASE/models.config")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from hrcam.export import export_saved_model
    from hrcam.sources import split_specs

    heads = args.heads
    if heads is not None and heads.strip().lower() in ("none", ""):
        heads = ()
    elif heads is not None:
        heads = complete_specs(split_specs(heads), args)
    class_names = None
    if args.class_names:
        path = Path(args.class_names)
        if not path.is_file():
            raise FileNotFoundError(f"--class-names: no file at {str(path)!r}")
        class_names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = export_saved_model(
        args.model,
        args.out,
        args.name,
        args.version,
        heads=heads,
        top_k=args.top_k,
        gradcam_layer=args.gradcam_layer,
        class_names=class_names,
        warmup=not args.no_warmup,
        warmup_batch_sizes=args.warmup_batch_sizes,
        verify=not args.no_verify,
        model_config=not args.no_model_config,
        config_base_path=args.config_base_path,
    )
    info = {
        "path": str(result.path),
        "name": result.name,
        "version": result.version,
        "signatures": list(result.signatures),
        "heads": list(result.heads),
        "model_config": str(result.model_config) if result.model_config else None,
    }
    base = Path(args.out).resolve()
    lines = [
        f"exported {result.name} version {result.version} to {result.path}",
        f"  signatures: {', '.join(result.signatures)}",
        f"  heads: {', '.join(result.heads) or 'none'}",
    ]
    if result.model_config:
        lines += [
            f"  model config: {result.model_config}",
            "serve it with:",
            f"  docker run --gpus all -p 8500:8500 -p 8501:8501 -v {base}:/models "
            "tensorflow/serving:latest-gpu "
            "--model_config_file=/models/models.config",
        ]
    emit(info, args.json, lines)
    return 0
