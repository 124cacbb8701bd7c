"""``hrcam evaluate masks`` ([casme:eval.py], reference section A7): how much of the evidence a masker's
binarised mask holds, judged by classifiers that did not train it.

For each image x in [0, 1] and binary mask b (CASM's top-alpha rule, :func:`binarize_casm`): masked-in
``b x``, masked-out ``(1 - b) x`` (black fill, in pixel space, as eval.py) and inpainted (OpenCV Telea,
radius 3, of the masked-out image over b). Each classifier reports top-1, top-5, cross-entropy and the mean
prediction entropy per image type. ``toy`` masks are the original's controls: ``zeros``, ``ones``,
``bernoulli-coarse`` (Bernoulli(0.5) on a grid of 1/4 the side, nearest up-sampled) and ``bernoulli-fine``
(Bernoulli(0.5) per pixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hrcam.evaluation.localisation import binarize_casm

__all__ = [
    "TOY_MASKS",
    "IMAGE_TYPES",
    "toy_masks",
    "masked_images",
    "classification_scores",
    "evaluate_masks",
]

TOY_MASKS = ("zeros", "ones", "bernoulli-coarse", "bernoulli-fine")
IMAGE_TYPES = ("original", "masked_in", "masked_out", "inpainted")


def toy_masks(kind: str, n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(n, H, W) bool control masks (see the module docstring)."""
    h, w = size
    rng = np.random.default_rng(seed)
    if kind == "zeros":
        return np.zeros((n, h, w), bool)
    if kind == "ones":
        return np.ones((n, h, w), bool)
    if kind == "bernoulli-fine":
        return rng.random((n, h, w)) < 0.5
    if kind == "bernoulli-coarse":
        coarse = rng.random((n, -(-h // 4), -(-w // 4))) < 0.5
        return coarse.repeat(4, axis=1).repeat(4, axis=2)[:, :h, :w]
    raise ValueError(f"`toy` must be one of {list(TOY_MASKS)}, got {kind!r}")


def masked_images(images: Any, binary: Any) -> dict[str, np.ndarray]:
    """``{"original", "masked_in", "masked_out", "inpainted"}`` float32 (N, H, W, 3) in [0, 1].

    Args:
        images: (N, H, W, 3) uint8 or float in [0, 1]; binary: (N, H, W) bool masks.
    """
    import cv2

    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    b = np.asarray(binary, bool)
    if b.shape != x.shape[:3]:
        raise ValueError(f"`binary` must have shape {x.shape[:3]} to match `images`, got {b.shape}")
    bf = b[..., None].astype(np.float32)
    masked_out = (1 - bf) * x
    inpainted = (
        np.stack(
            [
                cv2.inpaint(np.round(mo * 255).astype(np.uint8), bb.astype(np.uint8), 3, cv2.INPAINT_TELEA)
                for mo, bb in zip(masked_out, b)
            ]
        ).astype(np.float32)
        / 255.0
    )
    return {"original": x, "masked_in": bf * x, "masked_out": masked_out, "inpainted": inpainted}


def classification_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top-1, top-5, cross-entropy and mean prediction entropy (nats) of (N, K) probabilities."""
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)
    y = np.asarray(labels)
    k = min(5, p.shape[1])
    top = np.argsort(-p, axis=1)[:, :k]
    return {
        "top1": float((top[:, 0] == y).mean()),
        "top5": float((top == y[:, None]).any(axis=1).mean()),
        "cross_entropy": float(-np.log(p[np.arange(len(y)), y]).mean()),
        "entropy": float(-(p * np.log(p)).sum(axis=1).mean()),
    }


def _probabilities(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x, batch_size=batch_size))
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def evaluate_masks(
    images: Any,
    labels: Any,
    classifiers: dict[str, Any],
    masks: dict[str, np.ndarray],
    batch_size: int = 64,
) -> dict[str, Any]:
    """Scores of every (mask set, classifier, image type).

    Args:
        images: (N, H, W, 3); labels: (N,) int.
        classifiers: name -> a model whose ``predict_proba``/``predict`` gives (N, K) probabilities.
        masks: name -> (N, H, W) soft masks in [0, 1] (binarised with CASM's rule) or bool masks.

    Returns:
        ``{"results": {mask: {classifier: {image_type: scores}}}, "mask_area": {mask: mean binary area}}``.
    """
    y = np.asarray(labels)
    results: dict[str, Any] = {}
    area = {}
    for mname, m in masks.items():
        m = np.asarray(m)
        binary = m if m.dtype == bool else binarize_casm(m)
        area[mname] = float(binary.mean())
        variants = masked_images(images, binary)
        results[mname] = {
            cname: {
                t: classification_scores(_probabilities(clf, variants[t], batch_size), y) for t in IMAGE_TYPES
            }
            for cname, clf in classifiers.items()
        }
    return {"results": results, "mask_area": area}


def table_lines(result: dict[str, Any], metric: str = "top1") -> list[str]:
    lines = [f"{metric} per mask / classifier / image type (binary mask area in brackets)"]
    lines.append(f"{'mask':<30}{'classifier':<22}" + "".join(f"{t:>12}" for t in IMAGE_TYPES))
    for mname, per in result["results"].items():
        for cname, scores in per.items():
            label = f"{mname} ({result['mask_area'][mname]:.2f})"
            lines.append(
                f"{label:<30}{cname:<22}" + "".join(f"{scores[t][metric]:>12.3f}" for t in IMAGE_TYPES)
            )
    return lines


def chart(result: dict[str, Any], metric: str = "top1"):
    """seaborn bar chart: ``metric`` per image type, one panel per mask set, bars per classifier."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    import seaborn as sns

    rows = [
        {"mask": m, "classifier": c, "image": t, metric: s[t][metric]}
        for m, per in result["results"].items()
        for c, s in per.items()
        for t in IMAGE_TYPES
    ]
    grid = sns.catplot(
        data=pd.DataFrame(rows),
        x="image",
        y=metric,
        hue="classifier",
        col="mask",
        kind="bar",
        height=3.2,
        col_wrap=min(3, len(result["results"])),
    )
    grid.set_xticklabels(rotation=30)
    return grid.figure


def figure2(images: Any, soft: np.ndarray, names: Sequence[str] | None = None):
    """The paper's Figure-2 layout: per row an image, its mask, masked-in, masked-out and inpainted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soft = np.asarray(soft, np.float32)
    v = masked_images(images, binarize_casm(soft))
    cols = [
        ("image", v["original"]),
        ("mask", soft),
        ("masked-in", v["masked_in"]),
        ("masked-out", v["masked_out"]),
        ("inpainted", v["inpainted"]),
    ]
    n = len(soft)
    fig, axes = plt.subplots(n, 5, figsize=(10, 2 * n), squeeze=False)
    for i in range(n):
        for j, (title, arr) in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(arr[i], cmap="gray" if arr[i].ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title)
        if names is not None:
            axes[i, 0].set_ylabel(str(names[i]))
    fig.tight_layout()
    return fig
