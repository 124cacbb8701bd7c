"""HR-CAM models: the DenseNet-FCN builder, HalfModel (classifier + low-res CAM) and FullModel
(expansion network + high-res CAM), both Functional ``keras.Model`` subclasses registered with Keras.

Importing this package registers hrcam's Keras classes (HalfModel, FullModel, PixelPreprocessing), so
that ``keras.saving.load_model(path)`` returns them; :func:`load_model` also reads files of earlier
releases. :data:`LAYERS` is the one table of the layer names the models, training and export use.
"""

from hrcam.models.densenet_fcn import DenseNetFCNConfig
from hrcam.models.explainer import build_explainer  # registers ClassMasks
from hrcam.models.full import OBJECTIVES, FullModel, check_weights
from hrcam.models.half import HalfModel
from hrcam.models.layers import LAYERS
from hrcam.models.loading import load_model
from hrcam.models.multilabel import build_classifier  # registers MultiLabelMetric
from hrcam.models.preprocessing import PixelPreprocessing

__all__ = [
    "DenseNetFCNConfig",
    "FullModel",
    "HalfModel",
    "LAYERS",
    "OBJECTIVES",
    "build_classifier",
    "build_explainer",
    "PixelPreprocessing",
    "check_weights",
    "load_model",
]
