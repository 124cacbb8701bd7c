"""``hrcam score --method casm --masker M.keras``: CASM maskers next to the other methods (called from
:mod:`hrcam.commands.score`; the scoring itself is :mod:`hrcam.casm.scoring`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrcam.commands._common import emit, load_hrcam_model


def add_casm_arguments(parser) -> None:
    """``hrcam score``'s CASM options."""
    parser.add_argument(
        "--masker", metavar="M.keras", help="a CASM masker (hrcam train-casm) for --method casm"
    )
    parser.add_argument(
        "--casm-protocol",
        action="store_true",
        help="the original CASM protocol on folder data: Resize(--resize) + CenterCrop with mapped boxes, "
        "only the image's own class's boxes",
    )
    parser.add_argument(
        "--resize", type=int, metavar="S", help="shorter side before the centre crop (CASM: 224 for 224)"
    )


def score_command(args, load_scoring_data) -> dict[str, Any]:
    """``hrcam score`` with ``--method casm``: the masker's scores, next to the other ``--method``s of
    ``--model`` when given. Returns the result dict (``methods``, ...)."""
    from types import SimpleNamespace

    from hrcam.casm.masker import load_masker
    from hrcam.casm.scoring import protocol_data, score_masker

    if not args.masker:
        raise ValueError("--method casm needs --masker M.keras (a masker trained by hrcam train-casm)")
    masker = load_masker(args.masker)
    others = [m for m in args.method if m.lower() != "casm"]
    h, w, c = masker.image_shape
    if args.casm_protocol:
        if args.data == "synthetic":
            raise ValueError("--casm-protocol applies to folder datasets, not --data synthetic")
        data = protocol_data(args.data, h, args.resize, args.split, args.bbox, limit=args.limit)
    else:
        data = load_scoring_data(args, SimpleNamespace(input_shape=(h, w, c), num_classes=masker.num_classes))
    result: dict[str, Any] = {"methods": {}, "num_images": int(len(data.labels)), "target": args.target}
    if others:
        from hrcam.evaluation.scoring import score_methods

        if not args.model:
            raise ValueError(f"methods {others} need --model (a HalfModel or FullModel file)")
        result = score_methods(
            load_hrcam_model(args.model),
            data,
            others,
            target=args.target,
            workers=args.workers,
            batch_size=args.batch_size,
            progress=not args.json,
        )
    result["methods"]["casm"] = score_masker(masker, data, args.batch_size)
    result.setdefault("top1_accuracy", result["methods"]["casm"]["masker_top1"])
    result["masker"] = str(args.masker)
    for name in result["methods"]:
        for k in ("mask_mean", "mask_std_of_means", "mask_entropy", "mask_tv", "masker_top1"):
            result["methods"][name].setdefault(k, float("nan"))
    return result


def run_score(args, load_scoring_data, table) -> int:
    """The whole ``hrcam score`` run with ``--method casm``: scores, table or JSON, ``--out`` files."""
    result = score_command(args, load_scoring_data)
    result["model"], result["data"] = str(args.model), str(args.data)
    lines = table(result)
    if args.out:
        from hrcam.io import write_json
        from hrcam.plotting.charts import metrics_bar_figure, save_figure

        out = Path(args.out)
        write_json(out / "scores.json", result)
        keys = ["LE", "OM", "F1", "F1a", "box_iou@0.5", "mask_mean", "mask_entropy"]
        save_figure(
            metrics_bar_figure(result["methods"], f"scores on {args.data}", metrics=keys), out / "scores.png"
        )
        lines.append(f"wrote {out / 'scores.json'} and {out / 'scores.png'}")
    emit(result, args.json, lines)
    return 0
