"""The public names of hrcam's models, for users (``from hrcam.models import HalfModel, FullModel``).

A thin alias: HR-CAM's models live in :mod:`hrcam.highres`, the Explainer's networks in
:mod:`hrcam.explainer`; code inside hrcam imports them from there. :func:`build_vit` (:mod:`hrcam.models.vit`)
builds a small vision transformer from standard Keras layers, for the token-model saliency sources.
Importing this module registers every hrcam Keras class (HalfModel, FullModel, PixelPreprocessing, the
Explainer's ClassMasks and metrics), so
``keras.saving.load_model(path)`` returns them; :func:`load_model` also reads files of earlier releases.
"""

from hrcam.explainer.classifier import build_classifier  # registers MultiLabelMetric
from hrcam.explainer.network import build_explainer  # registers ClassMasks
from hrcam.highres.densenet_fcn import DenseNetFCNConfig
from hrcam.highres.full import OBJECTIVES, FullModel, check_weights
from hrcam.highres.half import HalfModel
from hrcam.highres.layers import LAYERS
from hrcam.highres.loading import load_model
from hrcam.highres.preprocessing import PixelPreprocessing
from hrcam.models.vit import build_vit

__all__ = [
    "DenseNetFCNConfig",
    "FullModel",
    "HalfModel",
    "LAYERS",
    "OBJECTIVES",
    "build_classifier",
    "build_explainer",
    "build_vit",
    "PixelPreprocessing",
    "check_weights",
    "load_model",
]
