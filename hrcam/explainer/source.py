"""A trained Explainer (or Real-Time Saliency network) as a map source (``explainer:model=E.keras``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from hrcam.highres.loading import classifier_of
from hrcam.saliency.base import SaliencyMethod

__all__ = ["ExplainerMasks", "load_explainer"]


def load_explainer(path: str | Path) -> keras.Model:
    """An Explainer network from a ``.keras`` file: images (B, H, W, 3) in [0, 1] -> per-class logits
    (B, H, W, C). FileNotFoundError / ValueError name the file."""
    import hrcam.explainer.network  # noqa: F401  (registers the Explainer's Keras classes)
    from hrcam.io import load_keras_file

    model = load_keras_file(path, "Explainer file", compile=False)
    out = getattr(model, "outputs", None) or []
    if len(out) != 1 or len(out[0].shape) != 4:
        raise ValueError(
            f"{str(path)!r} is not an Explainer network: expected one (batch, height, width, classes) "
            "output, "
            f"got {[tuple(t.shape) for t in out]}"
        )
    return model


class ExplainerMasks(SaliencyMethod):
    """The per-class masks ``sigmoid(S_c)`` of a trained Explainer (Stalder et al. 2022) for the classifier
    it explains: all classes from one forward pass of the segmentation network, the requested ones kept.
    Masks are in [0, 1], so ``normalize`` is off by default.

    Args:
        model: the classifier the Explainer was trained for (its outputs are the predictions and resolve
            "the predicted class"); a HalfModel / FullModel / ``keras.Model``.
        network: the Explainer network or the path of its ``.keras`` file.
        batch_size, normalize: see :class:`~hrcam.saliency.base.SaliencyMethod`.
    """

    name = "Explainer"
    needs_gradients = False

    def __init__(
        self, model: Any = None, network: Any = None, normalize: bool = False, **kwargs: Any
    ) -> None:
        if network is None:
            raise ValueError(
                "map source 'explainer' needs the Explainer network: explainer:model=E.keras (or network=)"
            )
        if model is None:
            raise ValueError(
                "map source 'explainer' needs the classifier it explains (`model`, --model C.keras): "
                "its predictions resolve the explained classes"
            )
        if isinstance(network, (str, Path)):
            network = load_explainer(network)
        if not isinstance(network, keras.Model):
            raise TypeError(f"`network` must be a keras.Model or a .keras path, got {type(network).__name__}")
        self.network = network
        super().__init__(classifier_of(model), normalize=normalize, **kwargs)
        want = (tuple(self.model.inputs[0].shape[1:]), self.num_classes)
        got = (tuple(network.inputs[0].shape[1:]), int(network.outputs[0].shape[-1]))
        if want != got:
            raise ValueError(
                f"the Explainer takes images {got[0]} and gives {got[1]} class masks; the classifier "
                f"{self.model.name!r} takes {want[0]} and predicts {want[1]} classes"
            )

    @property
    def keras_models(self) -> list[keras.Model]:
        return [self.model, self.network]

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        preds = self._forward(x).preds
        classes = self._select_classes(preds, classes)
        masks = tf.sigmoid(tf.cast(self.network(x, training=False), tf.float32))  # (b, H, W, C)
        masks = tf.gather(tf.transpose(masks, [0, 3, 1, 2]), classes, batch_dims=1)  # (b, k, H, W)
        return preds, masks
