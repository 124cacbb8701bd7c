"""Vanilla gradients (Simonyan et al. 2013): the gradient of the class score w.r.t. the input pixels."""

from __future__ import annotations

import keras
import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod, check_channel_reduce, reduce_channels

__all__ = ["Gradients"]


class Gradients(SaliencyMethod):
    """Input gradients ``dS_c/dx``, reduced over the colour channels.

    One forward and one backward pass to the input (the weights are not differentiated). Works with any model
    (also subclassed ones), in 2D and 3D.

    Args:
        model, mode, batch_size, normalize, use_logits: see :class:`~hrcam.saliency.base.SaliencyMethod`.
        layer: ignored (accepted so every method takes the same arguments).
        channel_reduce: ``"max_abs"`` (default, Simonyan et al.), ``"mean_abs"``, ``"sum"``, ``"l2"`` or
            ``"none"`` (maps keep the channel axis: (B, H, W, C)).
    """

    name = "Gradients"
    #: make the ReLUs guided on the backward pass (GuidedBackprop)
    guided: bool = False

    def __init__(
        self,
        model: keras.Model,
        layer: str | keras.layers.Layer | None = None,
        mode: str = "2D",
        batch_size: int = 64,
        normalize: bool = True,
        upsample: bool = True,
        use_logits: bool = True,
        channel_reduce: str = "max_abs",
    ) -> None:
        super().__init__(
            model, layer=layer, mode=mode, batch_size=batch_size, normalize=normalize, upsample=upsample,
            use_logits=use_logits,
        )  # fmt: skip
        self.channel_reduce = check_channel_reduce(channel_reduce)
        if self.guided:
            self._require_guided_graph()

    def _input_gradients(self, x: tf.Tensor, classes: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
        """(preds (b, C), grads (b, k, *spatial, C)) of the target scores w.r.t. the input."""
        with tf.GradientTape(
            watch_accessed_variables=False, persistent=self._num_targets(classes) > 1
        ) as tape:
            tape.watch(x)
            fwd = self._forward(x, guided=self.guided)
            classes = self._select_classes(fwd.preds, classes)
            targets = self._targets(fwd.scores, classes)
        grads = self._gradients(tape, targets, x)
        del tape
        return fwd.preds, grads

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        preds, grads = self._input_gradients(x, classes)
        return preds, reduce_channels(grads, self.channel_reduce)
