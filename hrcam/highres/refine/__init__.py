"""HR-CAM refinement: region growing on the high-res CAM, seeded and bounded by the low-res CAM.

* :mod:`hrcam.highres.refine.params`: the parameters, their validation, :data:`STEP_KEYS`;
* :mod:`hrcam.highres.refine.steps`: the building blocks (resizing, focal points, region growing, hole
  filling);
* :mod:`hrcam.highres.refine.core`: :func:`pipeline`, every step for one image or a batch (the step
  semantics and the original's bugs fixed are in that module's docstring);
* :mod:`hrcam.highres.refine.parallel`: :func:`refine`, the pipeline over a batch in worker processes;
* :mod:`hrcam.highres.refine.figure`: :func:`~hrcam.highres.refine.figure.plot_pipeline`, the step-by-step
  figure (matplotlib; not imported by this package).

NumPy / OpenCV / SimpleITK only: importing this package never imports TensorFlow, and nothing runs at import.
``hrcam.postprocessing`` re-exports these names (the original HR-CAM code's module name).
"""

from hrcam.highres.refine.core import pipeline
from hrcam.highres.refine.parallel import refine
from hrcam.highres.refine.params import STEP_KEYS, Params, validate_params
from hrcam.highres.refine.steps import fill_small_holes, find_focal_points, region_growing, resize_bilinear

__all__ = [
    "pipeline",
    "refine",
    "region_growing",
    "find_focal_points",
    "fill_small_holes",
    "resize_bilinear",
    "STEP_KEYS",
    "Params",
    "validate_params",
]
