"""The HR-CAM refinement pipeline under the original code's module name (``postprocessing.pipeline``).

The code lives in :mod:`hrcam.highres.refine`; this thin alias re-exports its public names, so
``from hrcam.postprocessing import pipeline, refine`` keeps working. The step functions that the tests and
``bench_pipeline.py`` time one by one are public in :mod:`hrcam.highres.refine.steps` and
:mod:`hrcam.highres.refine.core`. No TensorFlow is imported.
"""

import hrcam.highres.refine as _package
from hrcam.highres.refine import *  # noqa: F403

__all__ = list(_package.__all__)
