"""The HR-CAM refinement pipeline under the original code's module name (``postprocessing.pipeline``).

The code lives in :mod:`hrcam.highres.refine`; this module re-exports it, so
``from hrcam.postprocessing import pipeline, refine`` keeps working (and the private step functions
that the tests and ``bench_pipeline.py`` time one by one). No TensorFlow is imported.
"""

import hrcam.highres.refine as _package
from hrcam.arrays import minmax
from hrcam.highres.refine import *  # noqa: F403
from hrcam.highres.refine.core import _CHUNK as _CHUNK
from hrcam.highres.refine.core import _check_inputs as _check_inputs
from hrcam.highres.refine.core import _filter as _filter
from hrcam.highres.refine.core import _map_steps as _map_steps
from hrcam.highres.refine.params import Params, validate_params
from hrcam.highres.refine.steps import _box_blur as _box_blur
from hrcam.highres.refine.steps import _default_hole_size as _default_hole_size
from hrcam.highres.refine.steps import _default_num_points as _default_num_points
from hrcam.highres.refine.steps import _global_points as _global_points
from hrcam.highres.refine.steps import _percentiles as _percentiles
from hrcam.highres.refine.steps import _sobel_magnitude as _sobel_magnitude

__all__ = list(_package.__all__)
_validate_params = validate_params
_Params = Params
_minmax = minmax
