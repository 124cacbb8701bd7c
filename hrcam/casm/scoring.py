"""CASM's scoring protocol on a folder dataset (``hrcam score --casm-protocol``), [casme:score.py].

:func:`protocol_data`: Resize(shorter side to ``resize``) + CenterCrop(``size``) with the boxes mapped the
same way (scaled, shifted by the crop offset, clipped; the unclipped area still counts in F1/IoU as in
CASM), and only the boxes of the image's own class. Any map source is scored on it (a masker with
``casm:masker=M.keras``); the mask statistics of CASM's ``stats.py`` are
:func:`hrcam.evaluation.mask_stats.mask_statistics`, reported for every source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["crop_boxes", "protocol_data"]


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
    from hrcam import ops
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
        img = ops.resize_images(img, (int(round(h * s)), int(round(w * s))))
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
