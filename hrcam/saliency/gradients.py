"""Vanilla gradients (Simonyan et al. 2013): the gradient of the class score w.r.t. the input pixels."""

from __future__ import annotations

import tensorflow as tf

from hrcam.saliency.base import SaliencyMethod, reduce_channels
from hrcam.saliency.gradients_util import class_scores, num_targets, stacked_gradients

__all__ = ["Gradients"]


class Gradients(SaliencyMethod):
    """Input gradients ``dS_c/dx``, reduced over the colour channels.

    One forward and one backward pass to the input (the weights are not differentiated). Works with any model
    (also subclassed ones), in 2D and 3D.

    Args:
        **kwargs: the base's options (``mode``, ``batch_size``, ``normalize``, ``use_logits``, ...), see
            :class:`~hrcam.saliency.base.SaliencyMethod`; ``layer`` is accepted and ignored.
        channel_reduce: ``"max_abs"`` (default, Simonyan et al.), ``"mean_abs"``, ``"sum"``, ``"l2"`` or
            ``"none"`` (maps keep the channel axis: (B, H, W, C)).
    """

    name = "Gradients"
    default_channel_reduce = "max_abs"
    #: make the ReLUs guided on the backward pass (GuidedBackprop)
    guided: bool = False

    def _input_gradients(self, x: tf.Tensor, classes: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
        """(preds (b, C), grads (b, k, *spatial, C)) of the target scores w.r.t. the input."""
        with tf.GradientTape(watch_accessed_variables=False, persistent=num_targets(classes) > 1) as tape:
            tape.watch(x)
            fwd = self._forward(x, guided=self.guided)
            classes = self._select_classes(fwd.preds, classes)
            targets = class_scores(fwd.scores, classes)
        grads = stacked_gradients(tape, targets, x)
        del tape
        return fwd.preds, grads

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        preds, grads = self._input_gradients(x, classes)
        return preds, reduce_channels(grads, self.channel_reduce)
