"""Data sources for hrcam: folder datasets (ImageNet layout + bbox XML), synthetic scenes with exact masks,
the shared tf.data pipeline and the paper's augmentation.

Conventions: images NHWC uint8 [0, 255] at rest and float32 [0, 1] out of every ``tf.data`` pipeline; boxes
float32 ``(x0, y0, x1, y1)`` in pixel-edge coordinates, hrcam's one box convention (:mod:`hrcam.arrays`; XML
files' inclusive indices are converted by :mod:`hrcam.data.bbox`); sizes ``(height, width)``.
This package imports nothing from the higher layers (models, saliency, training, export,
cli) and does no work at import time.
"""

from hrcam.data.augment import RandomApply, paper_augmentation, shear_factor
from hrcam.data.bbox import (
    boxes_to_masks,
    clip_boxes,
    masks_to_boxes,
    read_voc_xml,
    scale_boxes,
    write_voc_xml,
)
from hrcam.data.folder import (
    IMAGE_EXTENSIONS,
    FolderDataset,
    check_images_readable,
    decode_image_file,
    load_image_files,
    make_dataset,
    read_classes_file,
)
from hrcam.data.pipeline import finish_dataset, from_arrays
from hrcam.data.synthetic import (
    CUE_COLORS,
    SHAPE_NAMES,
    VOLUME_SHAPE_NAMES,
    SyntheticScenes,
    SyntheticVolumes,
    make_scenes,
    make_volumes,
    write_folder,
)

__all__ = [
    "CUE_COLORS",
    "IMAGE_EXTENSIONS",
    "SHAPE_NAMES",
    "VOLUME_SHAPE_NAMES",
    "FolderDataset",
    "RandomApply",
    "SyntheticScenes",
    "SyntheticVolumes",
    "boxes_to_masks",
    "check_images_readable",
    "clip_boxes",
    "decode_image_file",
    "finish_dataset",
    "from_arrays",
    "load_image_files",
    "make_dataset",
    "make_scenes",
    "make_volumes",
    "masks_to_boxes",
    "paper_augmentation",
    "read_classes_file",
    "read_voc_xml",
    "scale_boxes",
    "shear_factor",
    "write_folder",
    "write_voc_xml",
]
