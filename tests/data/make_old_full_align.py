"""How ``old_full_align.keras`` was made: with the release before the Keras-model change (a plain Functional
FullModel graph saved by ``fm.save``), run as ``PYTHONPATH=<old checkout> python make_old_full_align.py``.
``old_full_align_expected.npz`` holds its raw (``normalize=False``) maps on fixed images."""

import keras
import numpy as np

from hrcam.models import DenseNetFCNConfig, FullModel, HalfModel

CFG = DenseNetFCNConfig(num_blocks=1, layers_per_block=1, growth_rate=2, initial_filters=4, cam_channels=3)
keras.utils.set_random_seed(0)
hm = HalfModel(num_classes=3, input_shape=(16, 16, 3), config=CFG)
fm = FullModel(hm, objective="align")
fm.save("old_full_align.keras")
x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
high, low, probs = fm.generate_cams(x, normalize=False)
np.savez_compressed("old_full_align_expected.npz", x=x, high=high, low=low, probs=probs)
