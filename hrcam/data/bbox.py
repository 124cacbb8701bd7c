"""Bounding-box files: PASCAL VOC / ImageNet XML reading and writing, the only place boxes are converted.

Inside hrcam every box is a float ``(x0, y0, x1, y1)`` in **pixel-edge** coordinates (:mod:`hrcam.arrays`:
an integer box is the slice ``[y0:y1, x0:x1]``, a whole 64x64 image is ``(0, 0, 64, 64)``). XML files store
0-based inclusive pixel indices (ImageNet, Tiny ImageNet: ``xmin..xmax`` covers ``xmax - xmin + 1``
columns) or 1-based ones (PASCAL VOC: ``one_based=True``); :func:`read_voc_xml` and :func:`write_voc_xml`
convert at the file boundary. The box helpers (scaling, clipping, boxes <-> masks) live in
:mod:`hrcam.arrays` and are re-exported here. Sizes are ``(height, width)``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from hrcam.arrays import as_size, boxes_to_inclusive, check_boxes, inclusive_to_boxes
from hrcam.arrays.boxes import boxes_to_masks, clip_boxes, masks_to_boxes, scale_boxes  # re-exported
from hrcam.io import write_text

__all__ = [
    "read_voc_xml",
    "write_voc_xml",
    "scale_boxes",
    "clip_boxes",
    "boxes_to_masks",
    "masks_to_boxes",
    "as_size",
    "to_edge_boxes",
]


def read_voc_xml(path: str | os.PathLike, one_based: bool = False) -> dict[str, Any]:
    """Read a PASCAL VOC / ImageNet annotation XML file.

    Args:
        path: the ``.xml`` file (``<annotation><size><width>..<height>..</size>
            <object><name>..</name><bndbox><xmin>..<ymin>..<xmax>..<ymax>..</bndbox></object>...``).
        one_based: the file uses 1-based coordinates (original PASCAL VOC). ImageNet / Tiny ImageNet files
            are 0-based (the default). Either way the result is pixel-edge: a file's inclusive
            ``xmin..xmax`` (0-based) becomes ``(xmin, ..., xmax + 1, ...)``.

    Returns:
        ``dict(width=int | None, height=int | None, boxes=(n, 4) float32 pixel-edge (x0, y0, x1, y1),
        names=list[str] (one per box), filename=str | None)``. Files without objects give ``(0, 4)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not parseable XML, or a box with missing / non-numeric / inverted coordinates.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"bounding-box file {path} does not exist")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"bounding-box file {path} is not valid XML: {e}") from None

    def _int(node: ET.Element | None, tag: str) -> int | None:
        if node is None:
            return None
        text = node.findtext(tag)
        if text is None or not text.strip():
            return None
        try:
            return int(round(float(text)))
        except ValueError:
            raise ValueError(f"{path}: <{tag}> must be a number, got {text!r}") from None

    size = root.find("size")
    width, height = _int(size, "width"), _int(size, "height")
    boxes, names = [], []
    for k, obj in enumerate(root.iter("object")):
        bnd = obj.find("bndbox")
        if bnd is None:
            continue
        coords = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            text = bnd.findtext(tag)
            try:
                coords.append(float(text))
            except (TypeError, ValueError):
                raise ValueError(f"{path}: object {k} has <{tag}>={text!r}, expected a number") from None
        if coords[2] < coords[0] or coords[3] < coords[1]:
            raise ValueError(
                f"{path}: object {k} has an inverted box {coords} (expected xmin<=xmax, ymin<=ymax)"
            )
        boxes.append(coords)
        names.append((obj.findtext("name") or "").strip())
    arr = inclusive_to_boxes(np.asarray(boxes, np.float32).reshape(-1, 4))
    if one_based:
        arr = arr - np.array([1, 1, 1, 1], np.float32)
    return {
        "width": width,
        "height": height,
        "boxes": arr,
        "names": names,
        "filename": root.findtext("filename"),
    }


def write_voc_xml(
    path: str | os.PathLike,
    boxes: Any,
    names: Sequence[str],
    size: Any,
    filename: str | None = None,
    folder: str = "",
    depth: int = 3,
) -> Path:
    """Write boxes as an ImageNet-style VOC XML file (0-based inclusive integer coordinates), atomically.

    Args:
        boxes: (n, 4) pixel-edge boxes (x0, y0, x1, y1), written as inclusive ``x0, y0, x1 - 1, y1 - 1``
            rounded to ints; names: n object names; size: (height, width).
    """
    arr = boxes_to_inclusive(boxes)
    if len(names) != len(arr):
        raise ValueError(f"`names` has {len(names)} entries but `boxes` has {len(arr)} boxes")
    h, w = as_size(size)
    objs = "".join(
        f"\t<object>\n\t\t<name>{escape(str(n))}</name>\n\t\t<pose>Unspecified</pose>\n"
        f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n"
        f"\t\t<bndbox><xmin>{int(round(b[0]))}</xmin><ymin>{int(round(b[1]))}</ymin>"
        f"<xmax>{int(round(b[2]))}</xmax><ymax>{int(round(b[3]))}</ymax></bndbox>\n\t</object>\n"
        for n, b in zip(names, arr, strict=True)
    )
    text = (
        f"<annotation>\n\t<folder>{escape(folder)}</folder>\n"
        f"\t<filename>{escape(filename or '')}</filename>\n"
        f"\t<source><database>hrcam</database></source>\n"
        f"\t<size><width>{w}</width><height>{h}</height><depth>{depth}</depth></size>\n"
        f"\t<segmented>0</segmented>\n{objs}</annotation>\n"
    )
    return write_text(path, text)


def to_edge_boxes(boxes: Any) -> np.ndarray:
    """Deprecated no-op kept for callers of the two-convention era: boxes are pixel-edge boxes already.

    Returns (n, 4) float32 (validated copy of ``boxes``).
    """
    return check_boxes(boxes).astype(np.float32)
