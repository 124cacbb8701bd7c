"""Cost of the high-resolution maps against the classifier's own forward pass, measured side by side.

Prints JSON. Usage: ``PYTHONPATH=. python scripts/bench_high_resolution.py [--size 224] [--batch 32]``

The paper's DenseNet-FCN (10 classes, untrained: cost does not depend on the weights). Every entry is a
compiled call on the same batch; rounds interleave all entries so machine noise hits them alike; the ratio
of medians against ``classifier forward`` (the HalfModel's probabilities) is reported:

* ``generate_cams guided``: ``HalfModel.generate_cams(x, guided=True)`` (low-res CAM + guided map);
* ``GuidedCAM``: the saliency method (``hrcam.saliency``, method ``guided_cam``);
* ``FullModel paper generate_cams`` / ``FullModel distil generate_cams`` (both high-res CAMs);
* export heads: ``ServingHeads`` compute of ``cam,guided_cam`` (HalfModel) and ``cam,high_res_cam``
  (distil FullModel);
* ``... distil ... (unfolded)``: the same distil FullModel with the class-weight fold of its linear tail
  turned off (``FullModel.maps_fn`` then dots the (B, H, W, K) smoothed activations with ``W[:, c]``), the
  reference for the fold's saving.

``--only a b``: run only the entries whose names contain one of the substrings (the classifier always).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", default=None, help="substrings of the entries to run")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from hrcam.export.heads import ServingHeads
    from hrcam.models import FullModel, HalfModel
    from hrcam.saliency import saliency

    size, batch = args.size, args.batch
    hm = HalfModel(num_classes=10, input_shape=(size, size, 3))
    paper = FullModel(hm)
    distil = FullModel(hm, objective="distil")
    unfolded = FullModel(model=distil.model, objective="distil")  # same layers and weights
    unfolded._views.folded_model = False  # maps_fn falls back to the activations . W[:, c]
    x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    xt = tf.constant(x)
    classes = tf.fill([batch, 1], -1)
    forward = tf.function(lambda t: hm.model(t, training=False))
    guided_method = saliency(hm.model, method="guided_cam", batch_size=batch)
    head_half = ServingHeads(hm, heads=("cam", "guided_cam"))
    head_distil = ServingHeads(distil, heads=("cam", "high_res_cam"))
    head_paper = ServingHeads(paper, heads=("cam", "high_res_cam"))
    head_unfolded = ServingHeads(unfolded, heads=("cam", "high_res_cam"))
    runs = {
        "classifier forward": lambda: forward(xt).numpy(),
        "generate_cams guided": lambda: hm.generate_cams(x, guided=True, batch_size=batch),
        "GuidedCAM": lambda: guided_method(x),
        "FullModel paper generate_cams": lambda: paper.generate_cams(x, batch_size=batch),
        "FullModel distil generate_cams": lambda: distil.generate_cams(x, batch_size=batch),
        "FullModel distil generate_cams (unfolded)": lambda: unfolded.generate_cams(x, batch_size=batch),
        "export head cam+guided_cam (HalfModel)": lambda: head_half._compute_fn(xt, classes),
        "export head cam+high_res_cam (paper)": lambda: head_paper._compute_fn(xt, classes),
        "export head cam+high_res_cam (distil)": lambda: head_distil._compute_fn(xt, classes),
        "export head cam+high_res_cam (distil, unfolded)": lambda: head_unfolded._compute_fn(xt, classes),
    }
    if args.only:
        runs = {k: f for k, f in runs.items() if k == "classifier forward" or any(o in k for o in args.only)}
    for fn in runs.values():  # trace and warm up
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["classifier forward"]
    results = {
        name: {
            "seconds": round(t, 3),
            "images_per_s": round(batch / t, 2),
            "ratio_to_classifier": round(t / base, 3),
        }
        for name, t in med.items()
    }
    machine = f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}"
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    print(
        json.dumps(
            {"machine": machine, "loadavg": load, "size": size, "batch": batch, "results": results}, indent=1
        )
    )


if __name__ == "__main__":
    main()
