"""HR-CAM models: the DenseNet-FCN builder, HalfModel (classifier + low-res CAM) and FullModel
(expansion network + high-res CAM). Importing this package registers hrcam's custom Keras layers."""

from hrcam.models.densenet_fcn import DenseNetFCNConfig
from hrcam.models.full import OBJECTIVES, FullModel, check_weights
from hrcam.models.half import HalfModel
from hrcam.models.preprocessing import PixelPreprocessing

__all__ = ["DenseNetFCNConfig", "FullModel", "HalfModel", "OBJECTIVES", "PixelPreprocessing", "check_weights"]
