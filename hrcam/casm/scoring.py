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

__all__ = ["mask_statistics", "crop_boxes", "protocol_data", "score_masker"]


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
