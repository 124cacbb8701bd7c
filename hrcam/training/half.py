"""Stage 1: training the HalfModel classifier (the paper's Adadelta, learning rate 1.0).

The compile defaults belong to the model (``HalfModel.compile``) and live in :mod:`hrcam.models.compiling`;
this module gives the training workflows one call.
"""

from __future__ import annotations

from typing import Any

from hrcam.models.compiling import classifier_compile_args, labels_are_one_hot, make_optimizer
from hrcam.models.half import HalfModel

__all__ = ["compile_half_model", "labels_are_one_hot", "make_optimizer"]


def compile_half_model(
    model, train_data: Any = None, optimizer: str = "adadelta", learning_rate: float = 1.0
):
    """Compile a HalfModel with cross-entropy (sparse or one-hot, read from ``train_data``), accuracy and
    top-5; returns it."""
    one_hot = labels_are_one_hot(train_data)
    if isinstance(model, HalfModel):
        model.compile(optimizer=optimizer, learning_rate=learning_rate, one_hot=one_hot)
    else:  # a plain keras.Model classifier (e.g. ``hm.model``)
        model.compile(
            **classifier_compile_args(int(model.output_shape[-1]), one_hot, optimizer, learning_rate)
        )
    return model
