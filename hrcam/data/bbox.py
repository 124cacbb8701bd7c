"""Bounding boxes: PASCAL VOC / ImageNet XML files, rescaling, boxes <-> masks.

Conventions (the same everywhere in hrcam):

* A box is ``(xmin, ymin, xmax, ymax)`` float32, in **0-based, inclusive pixel indices**, as in Tiny
  ImageNet's box files and ImageNet's XML archives: the box ``xmin..xmax`` covers ``xmax - xmin + 1``
  pixel columns, so a box over a whole 64x64 image is ``(0, 0, 63, 63)``. In continuous coordinates
  (pixel ``i`` spans ``[i, i + 1)``) the box is the region ``[xmin, xmax + 1) x [ymin, ymax + 1)``.
  PASCAL VOC's own files are 1-based: read them with ``read_voc_xml(path, one_based=True)``.
* Boxes of one image are an ``(n, 4)`` float32 array; a batch is a list of such arrays (images may have
  different numbers of boxes, also none: shape ``(0, 4)``).
* Sizes are ``(height, width)`` like ``image_size`` everywhere else (while boxes list x before y).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

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


def as_size(size: Any, name: str = "size") -> tuple[int, int]:
    """``int`` or ``(height, width)`` -> ``(height, width)`` of positive ints.

    Raises:
        TypeError / ValueError naming ``name`` for anything else.
    """
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an int or (height, width), got {size!r}")
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an int or (height, width), got {size!r}") from None
    if h <= 0 or w <= 0 or (h, w) != tuple(float(s) for s in size):
        raise ValueError(f"`{name}` must be positive integers (height, width), got {size!r}")
    return h, w


def _as_boxes(boxes: Any, name: str = "boxes") -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"`{name}` must have shape (n, 4) (xmin, ymin, xmax, ymax), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite coordinates")
    return arr


def read_voc_xml(path: str | os.PathLike, one_based: bool = False) -> dict[str, Any]:
    """Read a PASCAL VOC / ImageNet annotation XML file.

    Args:
        path: the ``.xml`` file (``<annotation><size><width>..<height>..</size>
            <object><name>..</name><bndbox><xmin>..<ymin>..<xmax>..<ymax>..</bndbox></object>...``).
        one_based: the file uses 1-based coordinates (original PASCAL VOC); subtract 1 so the result is
            0-based. ImageNet / Tiny ImageNet files are 0-based (the default).

    Returns:
        ``dict(width=int | None, height=int | None, boxes=(n, 4) float32 (xmin, ymin, xmax, ymax),
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
    arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    if one_based:
        arr = arr - 1.0
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
        boxes: (n, 4) xmin, ymin, xmax, ymax (rounded to ints); names: n object names; size: (height, width).
    """
    arr = _as_boxes(boxes)
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


def scale_boxes(boxes: Any, from_size: Any, to_size: Any) -> np.ndarray:
    """Rescale inclusive pixel boxes from an image of ``from_size`` to one of ``to_size``.

    Works on pixel *edges*: the continuous region ``[xmin, xmax + 1)`` scales to
    ``[xmin * s, (xmax + 1) * s)``, so a full-image box stays a full-image box
    (``(0, 0, 63, 63)`` at 64 -> ``(0, 0, 223, 223)`` at 224) and scaling there and back is exact.

    Args:
        boxes: (n, 4) or (4,) xmin, ymin, xmax, ymax; from_size, to_size: int or (height, width).

    Returns:
        (n, 4) float32 (not rounded).
    """
    arr = _as_boxes(boxes)
    fh, fw = as_size(from_size, "from_size")
    th, tw = as_size(to_size, "to_size")
    s = np.array([tw / fw, th / fh, tw / fw, th / fh], np.float32)
    one = np.array([0, 0, 1, 1], np.float32)
    return ((arr + one) * s - one).astype(np.float32)


def to_edge_boxes(boxes: Any) -> np.ndarray:
    """Inclusive pixel boxes -> pixel-edge boxes ``(xmin, ymin, xmax + 1, ymax + 1)``.

    :mod:`hrcam.evaluation.localisation` scores boxes in pixel-edge coordinates (CASM's convention, where
    the area is ``(x_max - x_min) * (y_max - y_min)``); this is the one conversion between the two.
    """
    return (_as_boxes(boxes) + np.array([0, 0, 1, 1], np.float32)).astype(np.float32)


def clip_boxes(boxes: Any, size: Any) -> np.ndarray:
    """Clip (n, 4) inclusive boxes to an image of ``size`` = (height, width): 0 <= x <= W-1, 0 <= y <= H-1."""
    arr = _as_boxes(boxes)
    h, w = as_size(size)
    hi = np.array([w - 1, h - 1, w - 1, h - 1], np.float32)
    return np.clip(arr, 0.0, hi).astype(np.float32)


def boxes_to_masks(boxes_list: Any, size: Any) -> np.ndarray:
    """Filled-rectangle masks: the union of each image's boxes.

    Pixel ``(i, j)`` (row, column) is inside a box when its centre ``(j + 0.5, i + 0.5)`` lies in the box's
    continuous region ``[xmin, xmax + 1) x [ymin, ymax + 1)``; for integer boxes that is exactly
    ``xmin <= j <= xmax`` and ``ymin <= i <= ymax`` (``(xmax - xmin + 1) * (ymax - ymin + 1)`` pixels).
    Parts outside the image are ignored.

    Args:
        boxes_list: a sequence of N arrays (n_i, 4) (n_i may be 0), or an (N, 4) array (one box per image).
        size: (height, width) of the masks.

    Returns:
        (N, H, W) bool.
    """
    h, w = as_size(size)
    if isinstance(boxes_list, np.ndarray) and boxes_list.ndim == 2:
        boxes_list = [b[None] for b in boxes_list]
    per_image = [_as_boxes(b, name=f"boxes_list[{i}]") for i, b in enumerate(boxes_list)]
    n = len(per_image)
    if n == 0:
        return np.zeros((0, h, w), bool)
    k = max(1, max(len(b) for b in per_image))
    # Pad with empty boxes (xmin > xmax) so every image has k boxes, then one vectorised pass.
    padded = np.tile(np.array([1, 1, -1, -1], np.float32), (n, k, 1))
    for i, b in enumerate(per_image):
        padded[i, : len(b)] = b
    rows = np.arange(h, dtype=np.float32)
    cols = np.arange(w, dtype=np.float32)
    in_x = (cols >= padded[..., 0:1] - 0.5) & (cols < padded[..., 2:3] + 0.5)  # (N, k, W)
    in_y = (rows >= padded[..., 1:2] - 0.5) & (rows < padded[..., 3:4] + 0.5)  # (N, k, H)
    return np.einsum("nkh,nkw->nhw", in_y.astype(np.float32), in_x.astype(np.float32)) > 0


def masks_to_boxes(masks: Any) -> np.ndarray:
    """Tight inclusive boxes of (N, H, W) masks -> (N, 4) float32; empty masks give NaN rows."""
    m = np.asarray(masks).astype(bool)
    if m.ndim != 3:
        raise ValueError(f"`masks` must have shape (N, H, W), got {m.shape}")
    rows, cols = m.any(axis=2), m.any(axis=1)  # (N, H), (N, W)
    h, w = m.shape[1:]
    out = np.full((m.shape[0], 4), np.nan, np.float32)
    ok = rows.any(axis=1)
    out[ok, 0] = np.argmax(cols[ok], axis=1)
    out[ok, 1] = np.argmax(rows[ok], axis=1)
    out[ok, 2] = w - 1 - np.argmax(cols[ok, ::-1], axis=1)
    out[ok, 3] = h - 1 - np.argmax(rows[ok, ::-1], axis=1)
    return out
