"""TEMPORARY (issue 9 merge): where the saliency core gets ``resolve_targets`` and ``select_classes``.

PLAN contracts 1-2: ``hrcam.arrays.resolve_targets`` (NumPy, at the API boundary) and
``hrcam.ops.select_classes`` (in the graph) are written on the wt-arrays branch. Until that branch is merged
this module falls back to minimal local copies of the same contract. AFTER THE MERGE: delete this file and
import ``from hrcam.arrays import resolve_targets`` (hrcam/saliency/batching.py) and
``from hrcam.ops import select_classes`` (hrcam/saliency/base.py, hrcam/export/heads.py) instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["resolve_targets", "select_classes"]

try:  # the contract's home (wt-arrays)
    from hrcam.arrays import resolve_targets
except ImportError:  # TEMPORARY fallback, same contract

    def resolve_targets(  # type: ignore[misc]
        targets: Any, batch: int, num_classes: int | None, name: str = "target_class"
    ) -> tuple[np.ndarray, bool]:
        """None / int / B ints / (B, k) -> ((batch, k) int32, multi); negative = the predicted class."""
        if targets is None:
            return np.full((batch, 1), -1, np.int32), False
        if isinstance(targets, (bool, np.bool_)):
            raise TypeError(f"`{name}` must be None, an int, B ints or a (B, k) array, got a bool")
        arr = np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
                arr = arr.astype(np.int64)
            else:
                raise TypeError(
                    f"`{name}` must hold integer class indices, got dtype {arr.dtype}: {targets!r}"
                )
        if num_classes is not None and arr.size and arr.max() >= num_classes:
            bad = arr[arr >= num_classes].ravel()[:5].tolist()
            raise ValueError(
                f"`{name}` has class indices {bad} out of range [0, {num_classes - 1}] (-1 = predicted)"
            )
        if arr.ndim == 0:
            return np.full((batch, 1), int(arr), np.int32), False
        if arr.ndim == 1:
            if arr.shape[0] == 1 and batch != 1:
                arr = np.repeat(arr, batch)
            if arr.shape[0] != batch:
                raise ValueError(f"`{name}` has {arr.shape[0]} entries but the batch has {batch} images")
            return arr[:, None].astype(np.int32), False
        if arr.ndim == 2:
            if arr.shape[0] != batch or arr.shape[1] == 0:
                raise ValueError(f"`{name}` has shape {arr.shape}; expected (B, k) = ({batch}, k >= 1)")
            return arr.astype(np.int32), True
        raise ValueError(f"`{name}` must be None, an int, B ints or a (B, k) array, got shape {arr.shape}")


try:  # the contract's home (wt-arrays)
    from hrcam.ops import select_classes
except ImportError:  # TEMPORARY fallback, same contract

    def select_classes(probabilities: tf.Tensor, classes: tf.Tensor | None) -> tf.Tensor:  # type: ignore[misc]
        """(B, k) int32: ``None`` -> argmax (B, 1); negative entries -> that image's argmax."""
        predicted = tf.cast(tf.argmax(probabilities, axis=-1), tf.int32)[:, None]
        if classes is None:
            return predicted
        classes = tf.cast(classes, tf.int32)
        return tf.where(classes < 0, predicted, classes)
