"""Paired bootstrap of MaxBoxAccV2 differences between maps on the same images (is a gap more than noise?).

Each method's per-image best IoU at every CAM threshold comes from :func:`hrcam.evaluation.max_box_acc_v2`
(step 0.01); every resample draws the same images for all methods and re-takes the maximum over thresholds,
so a difference's interval includes the threshold choice. Prints JSON: per method MaxBoxAccV2 and the 95%
interval of (method - reference) and the share of resamples where the method is ahead.

    PYTHONPATH=. python scripts/bootstrap_maxboxacc.py --model runs/x/full/best.keras \
        --data ../shared/data/tiny-imagenet-10 --method cam multilayercam --reference center
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def hits(result: dict) -> np.ndarray:
    """(n_delta, n_tau, B) bool: box correct at IoU threshold delta and CAM threshold tau."""
    best = np.asarray(result["best_iou"])  # (n_tau, B)
    deltas = np.asarray(result["iou_thresholds"])
    return best[None] >= deltas[:, None, None]


def resampled_scores(h: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(R,) MaxBoxAccV2 for resample counts (R, B): max over tau of the weighted mean, mean over delta."""
    acc = np.einsum("dtb,rb->rdt", h.astype(np.float32), counts.astype(np.float32)) / counts.shape[1]
    return acc.max(axis=2).mean(axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--method", nargs="+", required=True)
    p.add_argument("--reference", default="center")
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    if args.resamples < 1:
        raise ValueError(f"--resamples must be >= 1, got {args.resamples}")

    from hrcam.commands._common import load_hrcam_model
    from hrcam.commands.score import load_scoring_data
    from hrcam.evaluation.localisation import max_box_acc_v2
    from hrcam.sources.scoring import method_maps

    start = time.time()
    model = load_hrcam_model(args.model)
    data = load_scoring_data(argparse.Namespace(data=args.data, bbox=None, split=None, limit=None), model)
    cache: dict = {}
    table = {}
    for method in [args.reference, *args.method]:
        maps = method_maps(method, model, data.images, data.labels, workers=args.workers, cache=cache)
        table[method] = hits(max_box_acc_v2(maps, data.boxes))
    n = len(data.labels)
    rng = np.random.default_rng(args.seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(args.resamples)])
    ref = resampled_scores(table[args.reference], counts)
    full = np.ones((1, n))
    ref_score = float(resampled_scores(table[args.reference], full)[0])
    out = {"reference": args.reference, "images": n, "resamples": args.resamples, "methods": {}}
    for method in [args.reference, *args.method]:
        score = float(resampled_scores(table[method], full)[0])
        diff = resampled_scores(table[method], counts) - ref
        out["methods"][method] = {
            "MaxBoxAccV2": round(score, 4),
            f"minus_{args.reference}": round(score - ref_score, 4),
            "ci95": [round(float(q), 4) for q in np.percentile(diff, [2.5, 97.5])],
            "share_ahead": round(float((diff > 0).mean()), 3),
        }
    out["seconds"] = round(time.time() - start, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
