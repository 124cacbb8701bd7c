"""Explainer inference cost against the classifier's forward pass and RISE (prints JSON).

    python scripts/bench_explainer.py --classifier RUN/classifier/best.keras \\
        --explainer RUN/explainer/best.keras

Times (median of --repeats) one batch of --batch images: the classifier's forward pass, the Explainer's
forward pass (the masks of every class at once), RISE with --rise-masks masks (every class from the same
forward passes) and Grad-CAM for every class; each as seconds per image and as a ratio to the classifier.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", required=True)
    p.add_argument("--explainer", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rise-masks", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    import hrcam.models  # noqa: F401
    from hrcam.saliency import saliency

    clf = keras.saving.load_model(args.classifier)
    ex = keras.saving.load_model(args.explainer)
    h, w, c = clf.input_shape[1:]
    k = int(clf.output_shape[-1])
    x = tf.constant(np.random.default_rng(0).uniform(size=(args.batch, h, w, c)).astype("float32"))
    f_clf = tf.function(lambda v: clf(v, training=False))
    f_ex = tf.function(lambda v: tf.sigmoid(ex(v, training=False)))
    rise = saliency(
        clf, "RISE", n_masks=args.rise_masks, activation="sigmoid", chunk_size=256, batch_size=256
    )
    gradcam = saliency(clf, "GradCAM", layer="features", batch_size=args.batch)
    every = np.tile(np.arange(k), (args.batch, 1))
    t = {
        "classifier_forward": _median_time(lambda: f_clf(x).numpy(), args.repeats),
        "explainer_all_classes": _median_time(lambda: f_ex(x).numpy(), args.repeats),
        "gradcam_all_classes": _median_time(lambda: gradcam(x.numpy(), every), args.repeats),
        "rise_all_classes": _median_time(lambda: rise(x.numpy(), every), max(1, args.repeats // 3)),
    }
    out = {
        "batch": args.batch,
        "image_size": [h, w],
        "classes": k,
        "rise_masks": args.rise_masks,
        "seconds_per_image": {n: v / args.batch for n, v in t.items()},
        "ratio_to_classifier": {n: v / t["classifier_forward"] for n, v in t.items()},
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
