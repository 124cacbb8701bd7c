"""Stage 2: training the FullModel's expansion path with the classifier frozen.

The stage-2 training view and its compile defaults belong to the model (``FullModel.fit``) and live in
:mod:`hrcam.models.stage2`; they are re-exported here for the training workflows.
"""

from hrcam.models.stage2 import build_stage2_model, compile_stage2, fit_full_model, stage2_dataset

__all__ = ["build_stage2_model", "compile_stage2", "fit_full_model", "stage2_dataset"]
