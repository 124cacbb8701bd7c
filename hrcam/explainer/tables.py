"""The Explainer's result files and tables, as the original gives them (text only; no TensorFlow).

* :func:`test_metrics_text`: the test-metrics file of a run (``test_metrics.txt``, the original's
  ``<model>_<classifier>_<dataset>_test_metrics.txt``), with every metric of the segmentation table over all
  images, per class and averaged over the classes, for each method;
* :func:`segmentation_table_text`: the paper's segmentation table (``notebooks/produce_tables.ipynb``: rows
  metric x network, columns the methods, two decimals) as LaTeX or Markdown, from one or more
  ``hrcam score --masks`` results;
* :func:`specificity_table_text`: the class-specificity table (``notebooks/evaluate_class_scores.ipynb``);
* :func:`f1_figure`: the F1-over-thresholds plot of the same notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "METHOD_NAMES",
    "PAPER_METRICS",
    "f1_figure",
    "segmentation_table_text",
    "specificity_table_text",
    "test_metrics_text",
]

#: the paper's column order and names (``produce_tables.ipynb``): hrcam method -> column
METHOD_NAMES = {
    "0": "0",
    "0.5": "0.5",
    "1": "1",
    "perfect": "Ideal",
    "gradcam": "GradCam",
    "rise": "RISE",
    "extremal_perturbation": "Fong 19",
    "igos_pp": "iGOS++",
    "guidedbackprop": "Guided BP",
    "guided_backprop": "Guided BP",
    "rtsal": "Dabkowski 17",
    "explainer": "Explainer",
}
#: the paper's rows: (hrcam metric, row name); "Accuracy" twice, as in the paper (soft accuracy, overlap)
PAPER_METRICS = (
    ("discrete_f1", "Mean F1"),
    ("soft_f1", "Cont F1"),
    ("soft_accuracy", "Accuracy"),
    ("discrete_iou", "Discr. IOU"),
    ("continuous_iou", "Cont. IOU"),
    ("auc", "AUC"),
    ("saliency", "Saliency"),
    ("overlap", "Accuracy"),
    ("background_coverage", "Background cov."),
    ("mask_coverage", "Object cov."),
)


def _num(v: Any, digits: int = 2) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _order(methods: Sequence[str]) -> list[str]:
    known = [m for m in METHOD_NAMES if m in methods]
    return known + [m for m in methods if m not in METHOD_NAMES]


def _grid(header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "latex":
        cols = "l" * 2 + "r" * (len(header) - 2)
        lines = [f"\\begin{{tabular}}{{{cols}}}", "\\toprule", " & ".join(header) + " \\\\", "\\midrule"]
        lines += [" & ".join(r) + " \\\\" for r in rows]
        return "\n".join([*lines, "\\bottomrule", "\\end{tabular}"]) + "\n"
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in [header, *rows]) + "\n"


def segmentation_table_text(results: Mapping[str, Mapping[str, Any]], fmt: str = "latex") -> str:
    """The paper's segmentation table from ``{network: result}`` (``result["table"]`` as ``hrcam score
    --masks`` writes it in ``scores.json``). ``fmt``: ``"latex"``, ``"markdown"`` or ``"text"``."""
    if fmt not in ("latex", "markdown", "text"):
        raise ValueError(f"`fmt` must be 'latex', 'markdown' or 'text', got {fmt!r}")
    if not results:
        raise ValueError("`results` is empty: give at least one scores.json")
    methods = _order(list(dict.fromkeys(m for r in results.values() for m in r["table"])))
    header = ["Metric", "Network", *(METHOD_NAMES.get(m, m) for m in methods)]
    rows = []
    for metric, label in PAPER_METRICS:
        for k, (network, result) in enumerate(results.items()):
            cells = [_num(result["table"].get(m, {}).get(metric)) for m in methods]
            first = label if k == 0 or fmt != "latex" else ""
            if fmt == "latex" and k == 0 and len(results) > 1:
                first = f"\\multirow[t]{{{len(results)}}}{{*}}{{{label}}}"
            rows.append([first, network, *cells])
    return _grid(header, rows, fmt)


def specificity_table_text(result: Mapping[str, Any], class_names: Sequence[str], fmt: str = "latex") -> str:
    """The class-specificity table of ``evaluate_class_scores.ipynb`` from a ``hrcam score --masks
    --specificity`` result: per method, rows the target classes, columns the unmasked probability ("none")
    and the mask classes, in percent."""
    blocks = []
    none = result.get("none") or [float("nan")] * len(class_names)
    for method, matrix in result.get("specificity", {}).items():
        header = ["Method", "Target", "none", *class_names]
        rows = [
            [
                METHOD_NAMES.get(method, method) if i == 0 else "",
                class_names[i],
                _num(100 * none[i]),
                *(_num(100 * v) for v in row),
            ]
            for i, row in enumerate(matrix)
        ]
        blocks.append(_grid(header, rows, fmt))
    return "\n".join(blocks)


def test_metrics_text(result: Mapping[str, Any], title: str = "") -> str:
    """The test-metrics file of a run: for each method, every metric of the segmentation table over all
    images (maps max-merged over each image's classes: the paper's numbers), then per class and the mean
    over the classes (``result`` as :func:`hrcam.sources.class_masks.evaluate_methods` returns it)."""
    lines = [title] if title else []
    lines.append(f"{result.get('num_images', '?')} test images")
    for k, v in result.get("classifier_micro", {}).items():  # the original's file: the classifier's metrics
        lines.append(f"classifier micro {k}: {_num(v, 4)}")
    metrics = [m for m, _ in PAPER_METRICS]
    for method, table in result["table"].items():
        lines += ["", f"== {method} =="]
        lines += [f"all images  {m}: {_num(table.get(m), 4)}" for m in metrics if m in table]
        per_class = result.get("per_class", {}).get(method, {})
        if per_class:
            keys = [m for m in metrics if m in next(iter(per_class.values()))]
            rows = [[name, *(_num(v.get(m), 4) for m in keys)] for name, v in per_class.items()]
            lines += ["per class:", _grid(["class", *keys], rows, "text").rstrip("\n")]
    return "\n".join(lines) + "\n"


def f1_figure(results: Mapping[str, Any], title: str = ""):
    """Matplotlib figure: the mean discrete F1 over thresholds 0.1..0.9 per method (``f1_curves`` of a
    result), dashed for the constant baselines, as the paper's F1 plot (without 0.5 and Ideal)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = [round(0.1 * k, 1) for k in range(1, 10)]
    for method in _order(list(results.get("f1_curves", {}))):
        if method in ("0.5", "perfect"):
            continue
        style = "--" if method in ("0", "1") else "-"
        ax.plot(x, results["f1_curves"][method], style, label=METHOD_NAMES.get(method, method))
    ax.legend(bbox_to_anchor=(-0.03, 1.0, 1, 0.2), loc="lower left", ncol=4)
    ax.set_xlabel("Threshold")
    ax.set_ylabel("F1 score")
    if title:
        fig.suptitle(title, y=1.12)
    return fig
