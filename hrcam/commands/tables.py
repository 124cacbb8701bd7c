"""``hrcam tables``: the Explainer paper's tables from ``hrcam score --masks`` results, as its notebooks make
them (``produce_tables.ipynb``: the segmentation table, rows metric x network, and the F1-over-thresholds
plot; ``evaluate_class_scores.ipynb``: the class-specificity table).

    hrcam tables vgg16=runs/score-vgg16/scores.json resnet50=runs/score-resnet50 --format latex --out tables/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrcam.commands._common import emit

HELP = (
    "print the Explainer paper's tables (segmentation, class specificity) from `hrcam score --masks` results"
)


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "scores",
        nargs="+",
        metavar="[NETWORK=]SCORES",
        help="a scores.json written by `hrcam score --masks --out DIR` (or DIR), one per network (column "
        "'Network' of the table; default: the folder's name)",
    )
    parser.add_argument("--format", choices=["latex", "markdown", "text"], default="latex")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write segmentation.{tex,md}, f1s_<network>.pdf and specificity_<network>.{tex,md} here",
    )
    parser.add_argument("--json", action="store_true", help="print the tables as JSON strings")


def _load(items: list[str]) -> dict:
    from hrcam.io import read_json

    results = {}
    for item in items:
        name, sep, path = item.partition("=")
        path = Path(path if sep else name)
        if path.is_dir():
            path = path / "scores.json"
        if not path.is_file():
            raise FileNotFoundError(f"no scores file {path} (write one with `hrcam score --masks --out DIR`)")
        result = read_json(path)
        if "table" not in result:
            raise ValueError(f"{path} is not a `hrcam score --masks` result (no 'table')")
        results[name if sep else path.parent.name] = result
    return results


def run(args: argparse.Namespace) -> int:
    from hrcam.explainer.tables import f1_figure, segmentation_table_text, specificity_table_text

    results = _load(args.scores)
    tables = {"segmentation": segmentation_table_text(results, args.format)}
    for network, result in results.items():
        if result.get("specificity"):
            names = result.get("class_names") or []
            classes = [names[c] if c < len(names) else str(c) for c in result.get("specificity_classes", [])]
            size = len(next(iter(result["specificity"].values())))
            classes = classes if len(classes) == size else [str(c) for c in range(size)]
            tables[f"specificity_{network}"] = specificity_table_text(result, classes, args.format)
    lines = [f"% {name}\n{text}" for name, text in tables.items()]
    if args.out:
        from hrcam.io import write_text
        from hrcam.plotting.charts import save_figure

        out = Path(args.out)
        ext = {"latex": "tex", "markdown": "md", "text": "txt"}[args.format]
        for name, text in tables.items():
            write_text(out / f"{name}.{ext}", text)
        for network, result in results.items():
            if result.get("f1_curves"):
                save_figure(f1_figure(result, network), out / f"f1s_{network}.pdf")
        lines.append(f"wrote {len(tables)} tables under {out}")
    emit(tables, args.json, lines)
    return 0
