"""Choose the guided up-sampler's parameters (radius, eps, PAMR iterations) on a VALIDATION split.

Never on test images: synthetic scenes come from the training run's own validation seed (1_000_003 for
data.seed 0; ``hrcam score`` tests on seed 12345), a folder dataset (tiny-imagenet-10) uses the carve-out of
``train/`` that stage 1 used for model selection (``split_train_val(0.1, seed=0)``) and its train boxes.
Criterion: PxAP with exact masks, else MaxBoxAccV2 (Choe et al.). Prints JSON (every setting, best first).

    PYTHONPATH=. python scripts/select_guided.py --model runs/x/half/best.keras --data synthetic
    PYTHONPATH=. python scripts/select_guided.py --model runs/tiny/half/best.keras \
        --data ../shared/data/tiny-imagenet-10
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np


def validation_data(data: str, model, num: int, seed: int):
    """(images uint8, labels, masks or None, boxes) of the validation split."""
    h, w, _ = model.input_shape
    if data == "synthetic":
        from hrcam.data.bbox import to_edge_boxes
        from hrcam.data.synthetic import make_scenes

        scenes = make_scenes(num, image_size=h, num_classes=model.num_classes, seed=seed)
        boxes = [to_edge_boxes(b) for b in scenes.boxes]
        return scenes.images, np.asarray(scenes.labels), np.asarray(scenes.masks, bool), boxes
    from hrcam.data.bbox import to_edge_boxes
    from hrcam.data.folder import FolderDataset, load_image_files

    folder = FolderDataset(data)
    _, _, va_files, va_labels = folder.split_train_val(0.1, seed=0)
    index = {f: i for i, f in enumerate(folder.files("train"))}
    all_boxes = folder.boxes("train", image_size=(h, w))
    pick = [index[f] for f in va_files][:num]
    files = [va_files[i] for i in range(len(pick))]
    boxes = [to_edge_boxes(all_boxes[i]) for i in pick]
    return load_image_files(files, (h, w)), np.asarray(va_labels[: len(pick)]), None, boxes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--num", type=int, default=300)
    p.add_argument("--seed", type=int, default=1_000_003, help="synthetic validation seed (not the test's)")
    p.add_argument("--radius", type=float, nargs="+", default=[0.0625, 0.125, 0.25])
    p.add_argument("--eps", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    p.add_argument("--iterations", type=int, nargs="+", default=[0, 10, 20])
    args = p.parse_args()

    import tensorflow as tf

    from hrcam.arrays import minmax, resize_maps
    from hrcam.evaluation.localisation import max_box_acc_v2
    from hrcam.evaluation.pixel_ap import pxap
    from hrcam.models import load_model
    from hrcam.ops.guided import guided_upsample

    model = load_model(args.model)
    images, labels, masks, boxes = validation_data(args.data, model, args.num, args.seed)
    out = model.generate_cams(images, custom_class=labels, normalize=False)
    low = out[-2]  # (N, h, w) raw CAM of the true class
    x = tf.convert_to_tensor(images, tf.float32) / 255.0

    def score(maps: np.ndarray) -> float:
        if masks is not None:
            return pxap(maps, masks)
        return max_box_acc_v2(maps, boxes)["MaxBoxAccV2"]

    metric = "PxAP" if masks is not None else "MaxBoxAccV2"
    rows = [{"method": "bilinear CAM", metric: score(minmax(resize_maps(low, images.shape[1:3])))}]
    start = time.time()
    for radius, eps, iters in itertools.product(args.radius, args.eps, args.iterations):
        parts = [
            guided_upsample(x[i : i + 64], low[i : i + 64, None], radius, eps, iters).numpy()[:, 0]
            for i in range(0, len(low), 64)
        ]
        maps = minmax(np.concatenate(parts))
        rows.append({"radius": radius, "eps": eps, "iterations": iters, metric: score(maps)})
    rows.sort(key=lambda r: -r[metric])
    best = next(r for r in rows if "radius" in r)
    print(
        json.dumps(
            {
                "model": args.model,
                "data": args.data,
                "split": f"synthetic seed {args.seed}" if args.data == "synthetic" else "train carve-out 10%",
                "images": int(len(labels)),
                "metric": metric,
                "best": best,
                "seconds": round(time.time() - start, 1),
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
