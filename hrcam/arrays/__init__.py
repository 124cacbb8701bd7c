"""NumPy-only array conventions: image/map/mask checks, targets, min-max scaling, resizing and boxes.

This module never imports TensorFlow or Keras (worker processes and the NumPy-only evaluation import it);
:mod:`hrcam.ops` is the TensorFlow layer on top and reuses these checks and their messages. Tensors are
accepted wherever an array is: anything with ``.shape``/``.dtype`` is checked without a conversion, and an
eager tensor is converted with its ``.numpy()`` only where values are needed.

Conventions (``DESIGN.md``):

* **Images**: NHWC (NDHWC for volumes), ``uint8`` in [0, 255], float in [0, 1] (a tolerance of
  :data:`FLOAT_RANGE_TOLERANCE`), or ``bool`` meaning 0/1 values.
* **Maps**: float32 (B, H, W) (or with more leading axes); min-max scaling per map, constant maps -> zeros.
* **Targets**: ``None`` (the predicted class), an int, B ints, or (B, k); a negative entry means "this
  image's predicted class" (:func:`resolve_targets`).
* **Boxes**, the one convention inside hrcam: float ``(x0, y0, x1, y1)`` in **pixel-edge** coordinates.
  Pixel (row r, column c) covers ``[c, c + 1) x [r, r + 1)``; a box covers the pixels whose centres lie in
  ``[x0, x1) x [y0, y1)``; its area is ``(x1 - x0) * (y1 - y0)``. The tight box of columns c0..c1 and rows
  r0..r1 (inclusive) is ``(c0, r0, c1 + 1, r1 + 1)``, so an integer box is the slice ``[y0:y1, x0:x1]``
  and a box over a whole W x H image is ``(0, 0, W, H)``. Rescaling is a multiplication
  (:func:`scale_boxes`). Files that store inclusive pixel indices (ImageNet / PASCAL VOC XML) are converted
  at reading and writing only (:func:`inclusive_to_boxes`, :func:`boxes_to_inclusive`).
  One image's boxes are an (n, 4) array; a batch is a list of B such arrays (n may be 0), or an
  array (B, 4) (one box each) or (B, n, 4).
* **Sizes** are ``(height, width)`` (boxes list x before y).

Modules: :mod:`hrcam.arrays.checks` (images, maps, masks, scalar arguments), :mod:`hrcam.arrays.maps`
(targets, min-max, resizing) and :mod:`hrcam.arrays.boxes`; every name is importable from here.
"""

from __future__ import annotations

from hrcam.arrays.boxes import (
    batch_boxes,
    boxes_to_inclusive,
    boxes_to_masks,
    check_boxes,
    clip_boxes,
    inclusive_to_boxes,
    masks_to_boxes,
    raster_ranges,
    scale_boxes,
)
from hrcam.arrays.checks import (
    FLOAT_RANGE_TOLERANCE,
    as_size,
    check_choice,
    check_images,
    check_int,
    check_maps,
    check_masks,
    check_optional_int,
    check_pixels,
    check_real,
    describe,
    to_array,
)
from hrcam.arrays.maps import interp_matrix, minmax, resize_maps, resolve_targets

__all__ = [
    "FLOAT_RANGE_TOLERANCE",
    "describe",
    "to_array",
    "check_images",
    "check_pixels",
    "check_maps",
    "check_masks",
    "check_real",
    "check_choice",
    "check_int",
    "check_optional_int",
    "as_size",
    "resolve_targets",
    "minmax",
    "interp_matrix",
    "resize_maps",
    "check_boxes",
    "batch_boxes",
    "raster_ranges",
    "boxes_to_masks",
    "masks_to_boxes",
    "scale_boxes",
    "clip_boxes",
    "inclusive_to_boxes",
    "boxes_to_inclusive",
]
