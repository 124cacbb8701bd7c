"""Data sources for hrcam: folder datasets (ImageNet layout + bbox XML), the official layouts of the seeds'
datasets (PASCAL VOC, MS COCO, CUB-200-2011; :mod:`hrcam.data.resolve` names them: ``voc2007:ROOT``),
synthetic scenes with exact masks, the shared tf.data pipeline and the paper's augmentation.

Conventions: images NHWC uint8 [0, 255] at rest and float32 [0, 1] out of every ``tf.data`` pipeline; boxes
float32 ``(x0, y0, x1, y1)`` in pixel-edge coordinates, hrcam's one box convention (:mod:`hrcam.arrays`; XML
files' inclusive indices are converted by :mod:`hrcam.data.bbox`); sizes ``(height, width)``.
This package imports nothing from the higher layers (models, saliency, training, export,
cli) and does no work at import time: its names load on first use, so the TensorFlow-free modules
(:mod:`hrcam.data.resolve`, which the configs use) import without TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it (loaded on first access)
_EXPORTS = {
    "RandomApply": "augment",
    "paper_augmentation": "augment",
    "shear_factor": "augment",
    "boxes_to_masks": "bbox",
    "clip_boxes": "bbox",
    "masks_to_boxes": "bbox",
    "read_voc_xml": "bbox",
    "scale_boxes": "bbox",
    "write_voc_xml": "bbox",
    "IMAGE_EXTENSIONS": "folder",
    "FolderDataset": "folder",
    "check_images_readable": "folder",
    "decode_image_file": "folder",
    "load_image_files": "folder",
    "make_dataset": "folder",
    "read_classes_file": "folder",
    "finish_dataset": "pipeline",
    "from_arrays": "pipeline",
    "CUE_COLORS": "synthetic",
    "SHAPE_NAMES": "synthetic",
    "VOLUME_SHAPE_NAMES": "synthetic",
    "SyntheticScenes": "synthetic",
    "SyntheticVolumes": "synthetic",
    "make_scenes": "synthetic",
    "make_volumes": "synthetic",
    "write_folder": "synthetic",
    "DATA_SOURCES": "resolve",
    "open_dataset": "resolve",
    "parse_data_spec": "resolve",
    "VOCDataset": "voc",
    "COCODataset": "coco",
    "CUBDataset": "cub",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hrcam.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hrcam.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
