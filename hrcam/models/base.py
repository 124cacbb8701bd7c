"""What HalfModel and FullModel share: input handling, batched compiled inference, top-n, saving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.io import atomic_path

__all__ = ["CamModelBase", "LAYER_NAMES"]

# The names every hrcam classifier uses for its CAM head (see densenet_fcn.py for the body).
LAYER_NAMES = {
    "cam_features": "conv_aux",
    "pool": "gap",
    "logits": "logits",
    "probabilities": "probabilities",
    "high_res": ("tr_up_early", "high_res_activations"),
    "reconstruction": "reconstruction",
}


def add_cam_head(features, num_classes: int, cam_channels: int, weight_decay: float):
    """``conv_aux`` (1x1, no bias) -> ``gap`` -> ``logits`` (Dense) -> ``probabilities`` (softmax).

    Returns ``(cam_activations, logits, probabilities)`` tensors.
    """
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    cam_act = keras.layers.Conv2D(
        cam_channels, 1, padding="same", use_bias=False, kernel_initializer="he_normal", name="conv_aux"
    )(features)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(cam_act)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(pooled)
    probs = keras.layers.Softmax(name="probabilities", dtype="float32")(logits)
    return cam_act, logits, probs


class CamModelBase:
    """Shared behaviour of the HR-CAM model wrappers. Subclasses set ``self.model``."""

    model: keras.Model

    # -- properties -------------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) the underlying Keras model takes."""
        return tuple(int(d) for d in self.model.input_shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.model.get_layer("logits").units)

    @property
    def cam_kernel(self) -> tf.Variable:
        """(K, C) kernel of the ``logits`` Dense layer that weights the CAM channels."""
        return self.model.get_layer("logits").kernel

    # -- input handling ---------------------------------------------------------------------------
    def _images(self, x: Any, name: str = "x") -> tf.Tensor:
        """Validate and convert to float32 in [0, 1]; resize to the model's size when needed."""
        h, w, c = self.input_shape
        x = ops.as_images(x, name=name, channels=c)
        return x

    def _resize_in(self, x: tf.Tensor) -> tf.Tensor:
        h, w, _ = self.input_shape
        if x.shape[1] == h and x.shape[2] == w:
            return x
        return tf.image.resize(x, (h, w), method="bilinear", antialias=True)

    def _targets(self, custom_class: Any, batch: int, name: str = "custom_class") -> tuple[tf.Tensor, bool]:
        """(B, k) int32 with -1 meaning "the predicted class" (resolved in-graph)."""
        if custom_class is None:
            return tf.fill([batch, 1], -1), False
        dummy = tf.zeros([batch, self.num_classes])
        return ops.resolve_targets(custom_class, dummy, self.num_classes, name=name)

    def _batched(self, fn: Callable, x: tf.Tensor, *args: tf.Tensor, batch_size: int | None = None):
        """Run ``fn(x_chunk, *arg_chunks)`` over chunks of ``batch_size`` and concatenate the results."""
        n = int(x.shape[0])
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"`batch_size` must be a positive int or None, got {batch_size!r}")
        if batch_size is None or n <= batch_size:
            return fn(x, *args)
        outs = [
            fn(x[i : i + batch_size], *(a[i : i + batch_size] for a in args)) for i in range(0, n, batch_size)
        ]
        return tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *outs)

    # -- maps ---------------------------------------------------------------------------------------
    @tf.function(reduce_retracing=True)
    def _maps_compiled(self, images, classes):
        return self.maps_fn(images, classes)

    def _maps(
        self, x: Any, custom_class: Any, keys: tuple[str, ...], normalize: bool, batch_size: int | None
    ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Run the compiled ``maps_fn`` over ``x`` in chunks; return the ``keys`` maps and probabilities.

        Maps are (B, k, ...) for (B, k) targets, else (B, ...); min-max scaled per map when ``normalize``.
        """
        images = self._images(x)
        classes, multi = self._targets(custom_class, int(images.shape[0]))
        out = self._batched(self._maps_compiled, images, classes, batch_size=batch_size)
        maps = [out[key] if multi else out[key][:, 0] for key in keys]
        if normalize:
            maps = [ops.normalize_maps(m, batch_dims=2 if multi else 1) for m in maps]
        return maps, out["probabilities"]

    # -- classification ---------------------------------------------------------------------------
    def predict_proba(self, x: Any, batch_size: int | None = 64) -> np.ndarray:
        """Class probabilities (B, C) float32 for images (B, H, W, C)."""
        images = self._images(x)
        return self._batched(self._probabilities_fn, images, batch_size=batch_size).numpy()

    def predict(self, x: Any, batch_size: int | None = 64) -> np.ndarray:
        """Predicted class index (B,) int64 for images (B, H, W, C)."""
        return np.argmax(self.predict_proba(x, batch_size=batch_size), axis=-1)

    def predict_n(self, x: Any, n: int = 3, batch_size: int | None = 64) -> np.ndarray:
        """Top-``n`` class indices (B, n), best first (the original ``predictN`` returned the whole,
        unsorted score row)."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= self.num_classes:
            raise ValueError(f"`n` must be an int in [1, {self.num_classes}], got {n!r}")
        probs = self.predict_proba(x, batch_size=batch_size)
        return tf.math.top_k(probs, k=int(n)).indices.numpy()

    @tf.function(reduce_retracing=True)
    def _probabilities_fn(self, images):
        out = self.model(self._resize_in(images), training=False)
        return out["probabilities"] if isinstance(out, dict) else out

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save the Keras model in the ``.keras`` format, atomically (temp file, then rename)."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"`path` must end in '.keras', got {str(path)!r}")
        with atomic_path(path) as tmp:
            self.model.save(tmp)
        return path

    @staticmethod
    def _load_keras(path: str | Path) -> keras.Model:
        from hrcam.models import preprocessing  # noqa: F401  (registers custom layers)

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {str(path)!r}")
        return keras.saving.load_model(path, compile=False)

    def summary(self, **kwargs) -> None:
        self.model.summary(**kwargs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, input_shape={self.input_shape}, "
            f"params={self.model.count_params():,})"
        )
