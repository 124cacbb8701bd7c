"""Scoring CASM maskers (``hrcam score --method casm --masker M.keras``), [casme:score.py, stats.py].

* :func:`mask_statistics`: mean, std of the per-image means, pixel entropy (-m log2 m - (1-m) log2 (1-m)
  averaged over pixels with 0 < m < 1, divided by all pixels) and total variation (mean squared horizontal
  plus vertical differences);
* :func:`protocol_data`: the original protocol on a folder dataset: Resize(shorter side to ``resize``) +
  CenterCrop(``size``) with the boxes mapped the same way (scaled, shifted by the crop offset, clipped;
  the unclipped area still counts in F1/IoU as in CASM), and only the boxes of the image's own class;
* :func:`score_masker`: LE / OM / F1 / F1a with CASM's box rule (:func:`hrcam.evaluation.localisation.
  localization_scores`; OM with the masker's own classifier) and the rest of ``hrcam score``'s metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrcam.arrays import check_maps

__all__ = ["mask_statistics", "crop_boxes", "protocol_data", "score_masker", "score_command", "run_score"]


def mask_statistics(masks: Any) -> dict[str, float]:
    """CASM's ``stats.py`` figures of (N, H, W) soft masks in [0, 1]."""
    m = check_maps(masks, "masks", unit=True).astype(np.float64)
    means = m.reshape(len(m), -1).mean(axis=1)
    inner = (m > 0) & (m < 1)
    safe = np.where(inner, m, 0.5)
    ent = np.where(inner, -safe * np.log2(safe) - (1 - safe) * np.log2(1 - safe), 0.0)
    tv = (np.diff(m, axis=2) ** 2).mean(axis=(1, 2)) + (np.diff(m, axis=1) ** 2).mean(axis=(1, 2))
    return {
        "mask_mean": float(means.mean()),
        "mask_std_of_means": float(means.std()),
        "mask_entropy": float(ent.mean()),
        "mask_tv": float(tv.mean()),
    }


def crop_boxes(boxes: np.ndarray, src: tuple[int, int], resize: int, size: int) -> np.ndarray:
    """Map pixel-edge boxes of an (h, w) image through Resize(shorter side = ``resize``) + CenterCrop
    (``size``): scale and subtract the crop offset ([casme:score.py] ``resize_pos``). Not clipped here:
    the scores clip when they rasterise and keep the unclipped area, as CASM."""
    top, left, s = _crop_geometry(src, resize, size)
    return np.asarray(boxes, np.float64).reshape(-1, 4) * s - np.array([left, top, left, top])


def _crop_geometry(src: tuple[int, int], resize: int, size: int) -> tuple[int, int, float]:
    """(top, left, scale) of Resize(shorter side) + CenterCrop, offsets rounded as torchvision."""
    h, w = src
    s = resize / min(h, w)
    nh, nw = int(round(h * s)), int(round(w * s))
    return int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0)), s


def protocol_data(
    root: str | Path,
    size: int,
    resize: int | None = None,
    split: str | None = None,
    bbox_dir: str | None = None,
    own_class_only: bool = True,
    limit: int | None = None,
):
    """:class:`hrcam.evaluation.scoring.ScoringData` loaded with the original protocol (module docstring)."""
    import tensorflow as tf

    from hrcam.arrays import boxes_to_masks, inclusive_to_boxes
    from hrcam.data.bbox import read_voc_xml
    from hrcam.data.folder import FolderDataset
    from hrcam.data.images import decode_image_file
    from hrcam.evaluation.scoring import ScoringData

    resize = resize or size
    if resize < size:
        raise ValueError(f"`resize` ({resize}) must be >= the crop `size` ({size})")
    folder = FolderDataset(root, bbox_dir=bbox_dir)
    split = split or ("val" if folder.has_split("val") else "test")
    files, labels = folder.files(split), folder.labels(split)
    if limit:
        files, labels = files[:limit], labels[:limit]
    base = Path(bbox_dir) if bbox_dir else folder.root / "bbox" / folder.split_dir(split).name
    images, boxes = [], []
    for f, y in zip(files, labels):
        img = decode_image_file(f)
        h, w = (int(d) for d in img.shape[:2])
        s = resize / min(h, w)
        img = tf.image.resize(img, (int(round(h * s)), int(round(w * s))), antialias=True)
        top, left, _ = _crop_geometry((h, w), resize, size)
        img = img[top : top + size, left : left + size]
        images.append(np.clip(np.round(img.numpy()), 0, 255).astype(np.uint8))
        xml = next(
            (
                c
                for c in (base / f"{Path(f).stem}.xml", base / Path(f).parent.name / f"{Path(f).stem}.xml")
                if c.is_file()
            ),
            None,
        )
        if xml is None:
            raise FileNotFoundError(f"no box file for {f} under {base}")
        ann = read_voc_xml(xml)
        keep = [i for i, n in enumerate(ann["names"]) if not own_class_only or n == folder.class_names[y]]
        if not keep:
            raise ValueError(f"{xml} has no box of the image's own class {folder.class_names[y]!r}")
        edge = inclusive_to_boxes(np.asarray(ann["boxes"], np.float32)[keep])
        boxes.append(crop_boxes(edge, (h, w), resize, size))
    return ScoringData(
        np.stack(images), np.asarray(labels), boxes, boxes_to_masks(boxes, (size, size)), exact_masks=False
    )


def score_masker(masker, data, batch_size: int = 64) -> dict[str, float]:
    """LE/OM/F1/F1a (CASM's box rule, OM with the masker's classifier), ``hrcam score``'s other metrics
    and :func:`mask_statistics`, averaged over the images of ``data`` (ScoringData)."""
    from hrcam.evaluation.scoring import score_maps

    probs, masks = masker.predict_masks(data.images, batch_size=batch_size)
    correct = probs.argmax(1) == np.asarray(data.labels)
    scores = score_maps(masks, data, correct)
    scores.update(mask_statistics(masks))
    scores["masker_top1"] = float(correct.mean())
    return scores


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
        from hrcam.commands._common import load_hrcam_model
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
    from hrcam.commands._common import emit

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
