"""HR-CAM's own map sources: the FullModel's high-resolution CAM and the refined map (region growing).

The low-resolution CAM and its image-guided up-sampling need no class of their own: they are
:class:`hrcam.saliency.CAM` and :class:`hrcam.saliency.GuidedCAM` on the classifier (the same maps as
``generate_cams`` and ``generate_cams(guided=True)``). Both sources here take a
:class:`~hrcam.highres.HalfModel` or :class:`~hrcam.highres.FullModel` and are made by name with
:func:`hrcam.sources.get` (``high_res_cam``, ``refined``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.highres.full import FullModel
from hrcam.highres.half import HalfModel
from hrcam.highres.loading import classifier_of
from hrcam.ops.guided import guided_upsample
from hrcam.saliency.base import SaliencyMethod

__all__ = ["HighResCAM", "Refined", "REFINED_INPUTS"]

#: the map the refinement pipeline grows regions on: the FullModel's, or the guided up-sampling of the CAM
REFINED_INPUTS = ("high_res_cam", "guided_cam")


def _hrcam_model(model: Any, name: str, full: bool) -> HalfModel | FullModel:
    wanted = (FullModel,) if full else (HalfModel, FullModel)
    if not isinstance(model, wanted):
        what = "a FullModel (HR-CAM's expansion network)" if full else "a HalfModel or FullModel"
        hint = "; a HalfModel has 'cam' and 'guided_cam'" if full and isinstance(model, HalfModel) else ""
        raise ValueError(f"map source {name!r} needs {what}, got {type(model).__name__}{hint}")
    return model


class HighResCAM(SaliencyMethod):
    """The FullModel's high-resolution CAM (whatever its stage-2 objective: ``reconstruct``, ``align``,
    ``distil``): the expansion network's activations weighted by the classifier's class weights, at the
    input's resolution. One forward pass, no gradients.

    Args:
        model: a :class:`~hrcam.highres.FullModel`.
        batch_size, normalize: see :class:`~hrcam.saliency.base.SaliencyMethod`.
    """

    name = "HighResCAM"
    needs_gradients = False

    def __init__(self, model: Any, **kwargs: Any) -> None:
        self.full_model = _hrcam_model(model, "high_res_cam", full=True)
        super().__init__(classifier_of(model), **kwargs)

    @property
    def keras_models(self) -> list[keras.Model]:
        return [self.model, self.full_model]

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        out = self.full_model.maps_fn(x, classes)
        return out["probabilities"], out["high_res_cam"]


class Refined(SaliencyMethod):
    """HR-CAM's refinement pipeline (focal points, region growing with SimpleITK, hole filling, merging):
    its ``merged`` map, grown on the low-res CAM and a high-resolution map of the same class.

    Not traceable (the pipeline is NumPy / SimpleITK code, run in worker processes), so it cannot be a
    serving head; every other tool takes it.

    Args:
        model: a :class:`~hrcam.highres.HalfModel` or :class:`~hrcam.highres.FullModel`.
        source: the high-resolution map: ``"high_res_cam"`` (a FullModel's; the default for a FullModel) or
            ``"guided_cam"`` (the guided up-sampling of the CAM; the default for a HalfModel).
        workers: processes for the pipeline (``None``: one per CPU; 0: in this process).
        batch_size, normalize: see :class:`~hrcam.saliency.base.SaliencyMethod`; the merged map is in [0, 1]
            already, so ``normalize`` is off by default (as the pipeline returns it).
    """

    name = "Refined"
    needs_gradients = False
    traceable = False
    options = {"source": None, "workers": None}

    def __init__(self, model: Any, normalize: bool = False, **kwargs: Any) -> None:
        self.hrcam_model = _hrcam_model(model, "refined", full=False)
        super().__init__(classifier_of(model), normalize=normalize, **kwargs)

    def _setup(self, layer: Any) -> None:
        if self.source is None:
            self.source = REFINED_INPUTS[0] if isinstance(self.hrcam_model, FullModel) else REFINED_INPUTS[1]
        if self.source not in REFINED_INPUTS:
            raise ValueError(f"`source` of 'refined' must be one of {REFINED_INPUTS}, got {self.source!r}")
        if self.source == "high_res_cam":
            _hrcam_model(self.hrcam_model, "refined:source=high_res_cam", full=True)

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        from hrcam.highres.refine import refine

        out = self.hrcam_model.maps_fn(x, classes)
        low = out["cam"]
        high = out["high_res_cam"] if self.source == "high_res_cam" else guided_upsample(x, low)
        low, high = (ops.normalize_maps(m, batch_dims=2).numpy() for m in (low, high))
        images = np.round(np.asarray(x) * 255.0).astype(np.uint8)
        merged = [
            refine(images, low[:, j], high[:, j], workers=self.workers, keys=("merged",), progress=False)[
                "merged"
            ]
            for j in range(low.shape[1])
        ]
        return out["probabilities"], tf.constant(np.stack(merged, axis=1), tf.float32)
