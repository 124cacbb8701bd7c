"""The COSE + faithfulness table of BENCHMARKS.md: every saliency method on one model, JSON and a heat map.

    PYTHONPATH=$PWD .venv/bin/python scripts/cose_table.py --model runs/tiny-imagenet/half/best.keras \\
        --data ../shared/data/tiny-imagenet-10 --n 24 --out runs/cose/tiny

Like ``hrcam evaluate saliency`` (same code: :func:`hrcam.sources.cose.evaluate_methods`), with the
method options the CLI does not expose: SmoothGrad with ``--smoothgrad-samples`` noise samples and Integrated
Gradients with ``--ig-steps`` steps (fewer than their defaults, to fit a 2-core CPU), and ``--checkpoint``
models as perturbations. Images: the first ``--n`` of an even spread over the validation split
(``--data ROOT``) or synthetic scenes with seed 2 (``--data synthetic``). Prints the table and the JSON path.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

METHODS = [
    *("cam", "gradcam", "gradcam++", "layercam", "scorecam", "gradients", "smoothgrad", "ig"),
    *("hrcam", "hrcam-guided"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--name", default=None)
    ap.add_argument("--data", required=True, help="folder dataset root, or 'synthetic'")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--checkpoint", action="append", default=[])
    ap.add_argument("--smoothgrad-samples", type=int, default=8)
    ap.add_argument("--ig-steps", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--bootstrap", type=int, default=0, help="bootstrap draws over images (COSE interval)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from pathlib import Path

    from hrcam.commands.evaluate_saliency import _load_data
    from hrcam.evaluation.cose.sources import random_copy
    from hrcam.models import FullModel, HalfModel, load_model
    from hrcam.sources.cose import evaluate_methods, format_rows, write_report

    model = load_model(args.model)
    hr = isinstance(model, (HalfModel, FullModel))
    size = tuple(model.input_shape[:2]) if hr else tuple(model.input_shape[1:3])
    num_classes = model.num_classes if hr else int(model.output_shape[-1])
    ns = argparse.Namespace(data=args.data, n_images=args.n, split=None, synthetic_classes=None)
    images, labels, desc = _load_data(ns, size, num_classes)
    methods = [m for m in args.methods if not (m.startswith("hrcam") and not hr)]
    if hr and not isinstance(model, FullModel):
        methods = [("hrcam-low" if m == "hrcam" else m) for m in methods]
    perturb = {"random": random_copy(model)}
    perturb.update({Path(c).stem: load_model(c) for c in args.checkpoint})
    name = args.name or Path(args.model).stem
    t0 = time.time()
    rows = evaluate_methods(
        {name: model},
        images,
        labels,
        methods,
        perturbations={name: perturb},
        steps=args.steps,
        batch_size=args.batch_size,
        method_options={"smoothgrad": {"n_samples": args.smoothgrad_samples}, "ig": {"steps": args.ig_steps}},
        bootstrap=args.bootstrap,
        log=lambda s: print(s, flush=True),
    )
    extra = {
        "data": desc,
        "model": args.model,
        "n_images": len(images),
        "seconds": time.time() - t0,
        "args": vars(args),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    paths = write_report(rows, args.out, extra)
    print("\n".join(format_rows(rows)))
    for r in rows:
        if "cose_ci" in r:
            lo, hi = r["cose_ci"]
            ci = f"{100 * lo:.1f}-{100 * hi:.1f}"
            print(f"{r['method']}: COSE {100 * r['cose']:.1f} (95% bootstrap over images: {ci})")
    summary = {k: extra[k] for k in ("data", "seconds", "loadavg")}
    print(json.dumps({"written": [str(p) for p in paths], **summary}))


if __name__ == "__main__":
    main()
