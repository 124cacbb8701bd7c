"""Evaluation: localisation (boxes, CASM's LE/OM/F1, box accuracy, MaxBoxAccV2), PxAP, pointing games and the
Explainer's per-pixel segmentation metrics; all NumPy, vectorised over a batch, no TensorFlow import."""

from hrcam.evaluation import localisation, pixel_ap, pointing, segmentation
from hrcam.evaluation.localisation import *  # noqa: F403
from hrcam.evaluation.localisation import boxes_to_masks
from hrcam.evaluation.pixel_ap import *  # noqa: F403
from hrcam.evaluation.pointing import *  # noqa: F403
from hrcam.evaluation.segmentation import *  # noqa: F403

__all__ = [
    *localisation.__all__,
    "boxes_to_masks",
    *pointing.__all__,
    *pixel_ap.__all__,
    *segmentation.__all__,
]
