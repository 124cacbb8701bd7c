"""TEMPORARY shim (issue 9): PLAN contract 1/2 functions until branch wt-arrays is merged.

After the merge, delete this file and import ``resolve_targets`` from :mod:`hrcam.arrays` and
``select_classes`` from :mod:`hrcam.ops` in ``hrcam/models/base.py`` (the only user).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

try:  # pragma: no cover - the merged tree takes this branch
    from hrcam.arrays import resolve_targets
except ImportError:  # pragma: no cover

    def resolve_targets(
        targets: Any, batch: int, num_classes: int | None, name: str = "target_class"
    ) -> tuple[np.ndarray, bool]:
        """(batch, k) int32 classes (-1 = predicted) and ``multi``; validation by today's ops."""
        from hrcam import ops

        if targets is None:
            return np.full((batch, 1), -1, np.int32), False
        classes, multi = ops.resolve_targets(targets, tf.zeros([batch, num_classes]), num_classes, name=name)
        return classes.numpy().astype(np.int32), multi


try:  # pragma: no cover
    from hrcam.ops import select_classes
except ImportError:  # pragma: no cover

    def select_classes(probabilities: tf.Tensor, classes: tf.Tensor | None) -> tf.Tensor:
        """(B, k) int32: negative entries (or None) replaced by each image's argmax."""
        predicted = tf.cast(tf.argmax(probabilities, -1), tf.int32)[:, None]
        if classes is None:
            return predicted
        return tf.where(classes < 0, predicted, tf.cast(classes, tf.int32))


__all__ = ["resolve_targets", "select_classes"]
