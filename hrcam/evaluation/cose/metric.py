"""COSE (Daroya, Sun, Maji 2023): consistency C, sensitivity (via F) and their geometric mean.

Only images the model classifies correctly count. Each is transformed by the 13 transforms at the given
signed magnitudes; the map of the transformed image (mapped back for geometric transforms, inside the
validity mask) is compared with the original map by masked SSIM (5-pixel window). Pairs whose prediction
**stayed correct** give the consistency ``C`` (mean SSIM); pairs whose prediction **became wrong** give ``F``
(mean SSIM; a good method's map should change, so low F is good), together with the model perturbations
(the same method on a randomly initialised copy of the model and on any checkpoints passed; a perturbed
model that still predicts the class is left out). ``COSE = sqrt(C * (1 - F))``. The maps explain each
image's *predicted* class (also after the transform).

    >>> table = cose_table(source, images, labels, perturbations={"random": random_copy(model)})
    >>> cose_summary(table)["cose"]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from hrcam.arrays import check_images
from hrcam.evaluation.cose import transforms as T
from hrcam.evaluation.cose.sources import MapSource
from hrcam.evaluation.cose.ssim import masked_ssim
from hrcam.evaluation.cose.warps import inverse_warp, validity_mask

__all__ = [
    "CoseTable",
    "cose_table",
    "cose_summary",
    "cose_bootstrap",
    "transform_plan",
    "transformed_maps",
    "KINDS",
]

KINDS = ("geometric", "photometric", "model")


@dataclasses.dataclass
class CoseTable:
    """One row per (image, transform, magnitude) pair or (image, perturbed model) pair.

    Attributes:
        image: (n,) int index of the image in the evaluated batch.
        transform: (n,) str transform name, or the perturbation's name (``"random"``, a checkpoint label).
        magnitude: (n,) float signed magnitude (NaN for perturbations).
        kind: (n,) str, one of :data:`KINDS`.
        correct: (n,) bool, the transformed / perturbed prediction is still the label.
        ssim: (n,) float masked SSIM with the original map (NaN: empty validity mask, left out of means).
        weight: (n,) int how many magnitudes the row stands for (magnitude-free transforms run once).
    """

    image: np.ndarray
    transform: np.ndarray
    magnitude: np.ndarray
    kind: np.ndarray
    correct: np.ndarray
    ssim: np.ndarray
    weight: np.ndarray

    @classmethod
    def from_rows(cls, rows: Mapping[str, Sequence[Any]]) -> CoseTable:
        """A table from columns (``weight`` optional, default 1; ``image``/``magnitude`` optional)."""
        missing = {"transform", "kind", "correct", "ssim"} - set(rows)
        if missing:
            raise ValueError(
                f"`rows` lacks column(s) {sorted(missing)}; needs transform, kind, correct, ssim"
            )
        n = len(rows["ssim"])
        for key, col in rows.items():
            if len(col) != n:
                raise ValueError(f"column {key!r} has {len(col)} rows, expected {n} (as `ssim`)")
        kind = np.asarray(rows["kind"], dtype=object).astype(str)
        bad = sorted(set(kind) - set(KINDS))
        if bad:
            raise ValueError(f"`kind` values must be in {KINDS}, got {bad}")
        return cls(
            image=np.asarray(rows.get("image", np.zeros(n)), np.int64),
            transform=np.asarray(rows["transform"], dtype=object).astype(str),
            magnitude=np.asarray(rows.get("magnitude", np.full(n, np.nan)), np.float64),
            kind=kind,
            correct=np.asarray(rows["correct"], bool),
            ssim=np.asarray(rows["ssim"], np.float64),
            weight=np.asarray(rows.get("weight", np.ones(n)), np.int64),
        )

    def __len__(self) -> int:
        return int(self.ssim.shape[0])

    def concat(self, other: CoseTable) -> CoseTable:
        return CoseTable(
            *(
                np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in dataclasses.fields(self)
            )
        )

    def as_dict(self) -> dict[str, list]:
        return {f.name: getattr(self, f.name).tolist() for f in dataclasses.fields(self)}


def _wmean(values: np.ndarray, weights: np.ndarray, keep: np.ndarray) -> tuple[float, int]:
    keep = keep & np.isfinite(values)
    w = weights[keep].astype(np.float64)
    if w.sum() == 0:
        return float("nan"), 0
    return float((values[keep] * w).sum() / w.sum()), int(w.sum())


def cose_summary(table: CoseTable | Mapping[str, Sequence[Any]]) -> dict[str, float]:
    """C, F, COSE and their splits from a pair table.

    Returns:
        ``consistency`` (C: mean SSIM of geometric + photometric pairs still correct), ``fidelity`` (F: mean
        SSIM of every pair that became wrong, perturbations included), ``sensitivity`` (1 - F), ``cose``
        (sqrt(C (1 - F)); NaN when C or F has no pairs), ``consistency_geometric`` /
        ``consistency_photometric``, ``fidelity_geometric`` / ``fidelity_photometric`` / ``fidelity_model``,
        ``cose_geometric`` / ``cose_photometric`` (the same combination within each family, F of the family
        plus the model perturbations), and the pair counts ``n_consistency``, ``n_fidelity``, ... (weighted),
        ``n_nan`` (pairs left out: empty validity mask).
    """
    t = table if isinstance(table, CoseTable) else CoseTable.from_rows(table)
    geo, pho, mod = (t.kind == k for k in KINDS)
    ok, wrong = t.correct, ~t.correct
    out: dict[str, float] = {}

    def put(key: str, keep: np.ndarray) -> float:
        out[key], out[f"n_{key}"] = _wmean(t.ssim, t.weight, keep)
        return out[key]

    c = put("consistency", (geo | pho) & ok)
    f = put("fidelity", wrong)
    cg, cp = put("consistency_geometric", geo & ok), put("consistency_photometric", pho & ok)
    put("fidelity_geometric", geo & wrong)
    put("fidelity_photometric", pho & wrong)
    put("fidelity_model", mod & wrong)
    fg = _wmean(t.ssim, t.weight, (geo | mod) & wrong)[0]
    fp = _wmean(t.ssim, t.weight, (pho | mod) & wrong)[0]
    out["sensitivity"] = 1.0 - f
    out["cose"] = _combine(c, f)
    out["cose_geometric"] = _combine(cg, fg)
    out["cose_photometric"] = _combine(cp, fp)
    out["n_nan"] = int(t.weight[~np.isfinite(t.ssim)].sum())
    out["accuracy_kept"] = (
        float(np.average(t.correct[geo | pho], weights=t.weight[geo | pho]))
        if ((geo | pho).any())
        else float("nan")
    )
    return out


def cose_bootstrap(
    table: CoseTable | Mapping[str, Sequence[Any]], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Bootstrap over images: C, F and COSE recomputed with the images drawn with replacement.

    The draws depend only on ``seed`` and the table's image ids, so two methods evaluated on the same correct
    images get the same draws: ``a["cose_draws"] - b["cose_draws"]`` is a paired bootstrap of the difference.

    Returns:
        ``consistency_ci`` / ``fidelity_ci`` / ``cose_ci`` (``[lo, hi]`` percentile interval at ``level``;
        NaN-free draws only) and ``cose_draws`` (n_boot,) float64 (NaN where a draw has no C or F pairs).
    """
    t = table if isinstance(table, CoseTable) else CoseTable.from_rows(table)
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"`n_boot` must be a positive int, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level}")
    ids, row_image = np.unique(t.image, return_inverse=True)
    if len(ids) == 0:
        raise ValueError("the table has no rows to bootstrap")
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(n_boot, len(ids)))
    n = len(ids)
    offsets = draws + n * np.arange(n_boot)[:, None]  # counts[b, i]: how often draw set b drew image i
    counts = np.bincount(offsets.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
    weight = (t.weight * np.isfinite(t.ssim)).astype(np.float64)  # (n_rows,)
    weighted_ssim = weight * np.nan_to_num(t.ssim)

    def mean(keep: np.ndarray) -> np.ndarray:
        # per-image sums of the kept rows, then one (n_boot, n_images) @ (n_images,) product per draw set
        per_image_w = np.bincount(row_image[keep], weights=weight[keep], minlength=n)
        per_image_s = np.bincount(row_image[keep], weights=weighted_ssim[keep], minlength=n)
        total = counts @ per_image_w
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (counts @ per_image_s) / total, np.nan)

    c, f = mean(np.isin(t.kind, ("geometric", "photometric")) & t.correct), mean(~t.correct)
    cose = np.sqrt(np.clip(c, 0, None) * np.clip(1.0 - f, 0, None))
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]

    def ci(v: np.ndarray) -> list[float]:
        v = v[np.isfinite(v)]
        return [float(x) for x in np.percentile(v, q)] if len(v) else [float("nan")] * 2

    return {"consistency_ci": ci(c), "fidelity_ci": ci(f), "cose_ci": ci(cose), "cose_draws": cose}


def _combine(c: float, f: float) -> float:
    if not (math.isfinite(c) and math.isfinite(f)):
        return float("nan")
    return math.sqrt(max(c, 0.0) * max(1.0 - f, 0.0))


def transform_plan(
    transforms: Sequence[str] | None = None, magnitudes: Sequence[float] = T.DEFAULT_MAGNITUDES
) -> list[tuple[str, float, int]]:
    """(transform, magnitude, weight) runs: one per magnitude, magnitude-free transforms once with weight
    ``len(magnitudes)``. Names and magnitudes are checked (ValueError for unknown names / out of range)."""
    names = [T.check_transform(n) for n in (T.TRANSFORMS if transforms is None else transforms)]
    if not names:
        raise ValueError("`transforms` must name at least one transform")
    mags = [T.check_magnitude(m, "magnitudes[]") for m in magnitudes]
    if not mags or any(m == 0.0 for m in mags):
        raise ValueError(f"`magnitudes` must be non-empty signed fractions in [-1, 1] without 0, got {mags}")
    plan = []
    for name in dict.fromkeys(names):
        if name in T.MAGNITUDE_FREE:
            plan.append((name, 1.0, len(mags)))
        else:
            plan.extend((name, m, 1) for m in mags)
    return plan


def _in_chunks(fn: Any, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def cose_table(
    source: MapSource,
    images: Any,
    labels: Any,
    transforms: Sequence[str] | None = None,
    magnitudes: Sequence[float] = T.DEFAULT_MAGNITUDES,
    perturbations: Mapping[str, Any] | None = None,
    batch_size: int = 64,
) -> tuple[CoseTable, dict[str, Any]]:
    """Run ``source`` on the images, every transform and every perturbed model; compare the maps.

    Args:
        source: a :class:`~hrcam.evaluation.cose.sources.MapSource`.
        images: (B, H, W, 3) float32 in [0, 1] or uint8.
        labels: (B,) int true classes.
        transforms: names (default: all 13).
        magnitudes: signed fractions in [-1, 1] (default: :data:`DEFAULT_MAGNITUDES`).
        perturbations: ``{name: model}`` (a randomly initialised copy, checkpoints); each runs the same
            method through :meth:`MapSource.on`.
        batch_size: images per transform batch.

    Returns:
        ``(table, info)``: the pair table (only correctly classified images) and ``info`` with
        ``n_images``, ``n_correct``, ``accuracy``, ``correct_index``, ``original_maps`` (of the correct
        images), ``seconds`` (time spent in the map source) and ``skipped_perturbations`` (``{name: why}``
        for perturbed models the method cannot run on).
    """
    x = np.asarray(check_images(images, name="images", rank=4))
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "iu":
        raise ValueError(f"`labels` must be ({x.shape[0]},) ints, got shape {y.shape} dtype {y.dtype}")
    plan = transform_plan(transforms, magnitudes)
    t_before = source.seconds
    probs, maps0 = _in_chunks(source, x, batch_size)
    if np.any(y < 0) or np.any(y >= probs.shape[1]):
        raise ValueError(f"`labels` must be class ids in [0, {probs.shape[1] - 1}]")
    keep = np.flatnonzero(np.argmax(probs, -1) == y)
    xc, yc, m0 = x[keep], y[keep], maps0[keep]
    n, (h, w) = len(keep), x.shape[1:3]
    cols: dict[str, list] = {
        k: [] for k in ("image", "transform", "magnitude", "kind", "correct", "ssim", "weight")
    }

    def add(name: str, mag: float, kind: str, correct: np.ndarray, ssim: np.ndarray, weight: int) -> None:
        cols["image"].extend(range(n))
        cols["transform"].extend([name] * n)
        cols["magnitude"].extend([mag] * n)
        cols["kind"].extend([kind] * n)
        cols["correct"].extend(correct.tolist())
        cols["ssim"].extend(np.asarray(ssim, np.float64).tolist())
        cols["weight"].extend([weight] * n)

    skipped: dict[str, str] = {}
    if n:
        for name, mag, weight in plan:
            xt = np.concatenate(
                [
                    T.apply_transform(xc[i : i + batch_size], name, mag).numpy()
                    for i in range(0, n, batch_size)
                ]
            )
            pt, mt = _in_chunks(source, xt, batch_size)
            if name in T.GEOMETRIC:
                back = inverse_warp(mt, name, mag)
                ssim = masked_ssim(m0, back, validity_mask(h, w, name, mag)).numpy()
                kind = "geometric"
            else:
                ssim, kind = masked_ssim(m0, mt).numpy(), "photometric"
            add(name, mag, kind, np.argmax(pt, -1) == yc, ssim, weight)
        for pname, pmodel in (perturbations or {}).items():
            try:
                psrc = source.on(pmodel)
            except ValueError as e:  # e.g. HR-CAM's high-res maps on a HalfModel checkpoint
                skipped[str(pname)] = str(e)
                continue
            pp, mp = _in_chunks(psrc, xc, batch_size)
            add(str(pname), float("nan"), "model", np.argmax(pp, -1) == yc, masked_ssim(m0, mp).numpy(), 1)
            source.seconds += psrc.seconds
    table = CoseTable.from_rows(cols)
    info = {
        "n_images": int(x.shape[0]),
        "n_correct": n,
        "accuracy": float(n / max(x.shape[0], 1)),
        "correct_index": keep,
        "original_maps": m0,
        "seconds": source.seconds - t_before,
        "map_calls": 1 + len(plan) * (n > 0) + len(perturbations or {}) * (n > 0),
        "skipped_perturbations": skipped,
    }
    return table, info


def transformed_maps(
    source: MapSource, image: Any, transforms: Sequence[str] | None = None, magnitude: float = 2.0 / 3.0
) -> list[dict[str, Any]]:
    """For one image: per transform, the transformed image, its map and the map mapped back (geometric) with
    the validity mask; for the per-transform figure."""
    x = np.asarray(image, np.float32)[None]
    out = []
    for name in [T.check_transform(t) for t in (T.TRANSFORMS if transforms is None else transforms)]:
        xt = T.apply_transform(x, name, magnitude)
        probs, mt = source(xt.numpy())
        back, valid = mt, np.ones(mt.shape[1:], np.float32)
        if name in T.GEOMETRIC:
            back = inverse_warp(mt, name, magnitude).numpy()
            valid = validity_mask(x.shape[1], x.shape[2], name, magnitude).numpy()
        out.append(
            {
                "transform": name,
                "image": xt.numpy()[0],
                "map": mt[0],
                "back": np.asarray(back)[0],
                "valid": valid,
                "pred": int(np.argmax(probs[0])),
            }
        )
    return out


_ = tf  # TensorFlow runs inside the transforms, warps and SSIM
