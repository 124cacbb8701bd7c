"""A trained CASM masker as a map source (``casm:masker=M.keras``): one class-agnostic mask per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from hrcam.casm.masker import CasmMasker, load_masker
from hrcam.saliency.base import SaliencyMethod

__all__ = ["CasmMasks"]


class CasmMasks(SaliencyMethod):
    """The mask of a trained :class:`~hrcam.casm.CasmMasker` (its decoder over its classifier's features),
    with that classifier's softmax as the predictions. Class-agnostic: every requested class gets the same
    mask. One forward pass, no gradients; masks are sigmoids in [0, 1], so ``normalize`` is off by default.

    Args:
        model: the classifier under study, or ``None``. A masker carries its own classifier (the one it was
            trained against); a ``model`` given here is checked to take the same images and classes.
        masker: a :class:`~hrcam.casm.CasmMasker` or the path of its ``.keras`` file.
        batch_size, normalize: see :class:`~hrcam.saliency.base.SaliencyMethod`.
    """

    name = "CASM"
    needs_gradients = False
    per_class = False

    def __init__(self, model: Any = None, masker: Any = None, normalize: bool = False, **kwargs: Any) -> None:
        if masker is None:
            raise ValueError(
                "map source 'casm' needs `masker`: a CasmMasker or its .keras file (casm:masker=M.keras)"
            )
        if isinstance(masker, (str, Path)):
            masker = load_masker(masker)
        if not isinstance(masker, CasmMasker):
            raise TypeError(f"`masker` must be a CasmMasker or a .keras path, got {type(masker).__name__}")
        if model is not None:
            _check_same_task(masker, model)
        self.masker = masker
        probs = keras.layers.Softmax(name="casm_probabilities")(masker.classifier.outputs[0])
        super().__init__(
            keras.Model(masker.inputs, probs, name="casm_classifier"), normalize=normalize, **kwargs
        )

    @property
    def keras_models(self) -> list[keras.Model]:
        return [self.model, self.masker]

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        out = self.masker(x, training=False)
        mask = tf.cast(out["mask"][..., 0], tf.float32)  # (b, H, W)
        maps = tf.repeat(mask[:, None], tf.shape(classes)[1], axis=1)
        return tf.nn.softmax(tf.cast(out["logits"], tf.float32), axis=-1), maps


def _check_same_task(masker: CasmMasker, model: Any) -> None:
    """The masker's classifier and ``model`` take the same images and predict the same number of classes."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return
    shape = tuple(inputs[0].shape[1:])
    out = model.output["probabilities"] if isinstance(model.output, dict) else model.outputs[0]
    classes = int(out.shape[-1])
    if shape != masker.image_shape or classes != masker.num_classes:
        raise ValueError(
            f"the CASM masker was trained for images {masker.image_shape} and {masker.num_classes} classes; "
            f"`model` {model.name!r} takes {shape} and predicts {classes} classes"
        )
