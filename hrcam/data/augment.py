"""Training augmentation as in the HR-CAM paper, from Keras 3 preprocessing layers.

The original code (imgaug, ``pretrain_densenet_fcn.py``)::

    Sequential([Sometimes(0.5, Affine(scale={x, y: (0.9, 1.1)}, translate_percent={x, y: (-0.2, 0.2)},
                                      rotate=(-180, 180), shear=(-5, 5), cval=0, mode="constant")),
                Fliplr(0.5)])

and its Keras 3 translation here, in imgaug's composition order (scale, rotate, shear, translate):

* scale 0.9-1.1 per axis -> ``RandomZoom``. Keras' zoom factor ``z`` maps an output pixel to the input
  pixel ``z * x`` (``z > 1`` zooms *out*), so an object scale ``s`` is ``z = 1 / s``: the factors are
  ``(1/1.1 - 1, 1/0.9 - 1)`` = (-0.0909, +0.1111), sampled independently for height and width as imgaug does.
* rotate +-180 degrees -> ``RandomRotation(0.5)`` (the factor is a fraction of a full turn, 2*pi).
* shear +-5 degrees -> ``RandomShear(x_factor=tan(5 deg) = 0.0875)``. Keras' shear factor is the shear
  *slope* (output (x, y) samples input (x + s*y, y)), so an angle ``a`` is ``tan(a)``; imgaug 0.4 shears
  along x only for a scalar range. Keras shears about the top-left corner, imgaug about the centre: the
  difference is a translation of at most ``0.0875 * H`` (5.6 pixels at 64), inside the +-20% translation.
* translate +-20% per axis -> ``RandomTranslation(0.2, 0.2)``.
* ``Sometimes(0.5, ...)`` has no Keras equivalent -> :class:`RandomApply` (per image, batched).
* then ``RandomFlip("horizontal")`` (p = 0.5 per image).

Every affine layer fills with the constant 0 (black), as ``cval=0, mode="constant"``. The four affine
layers resample one after the other (imgaug resamples once), which softens the transformed images slightly.

All layers work eagerly, inside a model, and inside ``tf.data.Dataset.map`` on batches (B, H, W, C).
With ``training=False`` (e.g. inside a model at inference) they are the identity.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

__all__ = ["RandomApply", "paper_augmentation", "SHEAR_DEGREES", "shear_factor"]

#: The paper's shear range in degrees.
SHEAR_DEGREES = 5.0


def shear_factor(degrees: float) -> float:
    """Keras ``RandomShear`` factor (a slope) for a shear angle in degrees: ``tan(degrees)``."""
    if not -90.0 < degrees < 90.0:
        raise ValueError(f"`degrees` must be in (-90, 90), got {degrees!r}")
    return abs(math.tan(math.radians(degrees)))


@keras.saving.register_keras_serializable(package="hrcam")
class RandomApply(keras.layers.Layer):
    """Apply ``layer`` to a random subset of the batch: each image independently with probability ``rate``.

    The wrapped layer runs once on the whole batch and ``tf.where`` picks, per image, the transformed or the
    original image (no Python loop; the cost is one pass of ``layer`` over the batch).

    Args:
        layer: a Keras layer (or a serialisable layer-like object) mapping (B, ...) -> (B, ...) of the same
            shape.
        rate: probability in [0, 1] that an image is transformed. 0 is the identity, 1 always applies.
        seed: seed of the per-image choice (``None``: unseeded); the wrapped layer has its own seed.

    Call args:
        inputs: a batch (B, H, W, C) (or an unbatched (H, W, C) image, treated as a batch of one).
        training: ``False`` returns the input unchanged.
    """

    def __init__(self, layer: keras.layers.Layer, rate: float = 0.5, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"`rate` must be a probability in [0, 1], got {rate!r}")
        if not callable(layer):
            raise TypeError(f"`layer` must be a Keras layer (callable), got {type(layer).__name__}")
        self.layer = layer
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_jit = False

    def build(self, input_shape: Any) -> None:
        if isinstance(self.layer, keras.layers.Layer) and not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, inputs: Any, training: bool = True) -> Any:
        if not training or self.rate == 0.0:
            return inputs
        x = tf.convert_to_tensor(inputs)
        unbatched = x.shape.rank is not None and x.shape.rank == 3
        if unbatched:
            x = x[None]
        out = self.layer(x, training=True) if isinstance(self.layer, keras.layers.Layer) else self.layer(x)
        out = tf.cast(out, x.dtype) if out.dtype != x.dtype and x.dtype.is_floating else out
        if self.rate < 1.0:
            chosen = keras.random.uniform([tf.shape(x)[0]], seed=self.seed_generator) < self.rate
            chosen = tf.reshape(chosen, tf.concat([tf.shape(chosen), tf.ones([tf.rank(x) - 1], tf.int32)], 0))
            out = tf.where(chosen, out, tf.cast(x, out.dtype))
        return out[0] if unbatched else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"layer": keras.saving.serialize_keras_object(self.layer), "rate": self.rate, "seed": self.seed}
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RandomApply:
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)


def paper_augmentation(
    seed: int | None = None,
    rate: float = 0.5,
    interpolation: str = "bilinear",
    flip: bool = True,
) -> keras.Sequential:
    """The HR-CAM paper's augmentation (see the module docstring) as a ``keras.Sequential``.

    Args:
        seed: base seed; each random layer gets ``seed + i`` (``None``: unseeded, different every run).
        rate: probability of the affine transform per image (the paper: 0.5).
        interpolation: ``"bilinear"`` or ``"nearest"`` for the affine layers.
        flip: add the horizontal flip (p = 0.5).

    Returns:
        a Sequential mapping a float batch (B, H, W, C) to the same shape and dtype; values stay within the
        input range (bilinear interpolation and a fill of 0). Use inside ``tf.data.Dataset.map`` on batches
        or pass as ``augment=`` to :func:`hrcam.data.make_dataset`.
    """

    def s(i: int) -> int | None:
        return None if seed is None else int(seed) + i

    fill = {"fill_mode": "constant", "fill_value": 0.0, "interpolation": interpolation}
    zoom = (1.0 / 1.1 - 1.0, 1.0 / 0.9 - 1.0)
    affine = keras.Sequential(
        [
            keras.layers.RandomZoom(zoom, zoom, seed=s(1), **fill),
            keras.layers.RandomRotation(0.5, seed=s(2), **fill),
            # (0, f): Keras flips the sign of each sampled shear with p=0.5, so this is uniform on [-f, f];
            # a scalar f would be stored as (-f, f) in get_config, which RandomShear refuses to reload.
            keras.layers.RandomShear(
                x_factor=(0.0, shear_factor(SHEAR_DEGREES)), y_factor=(0.0, 0.0), seed=s(3), **fill
            ),
            keras.layers.RandomTranslation(0.2, 0.2, seed=s(4), **fill),
        ],
        name="paper_affine",
    )
    layers = [RandomApply(affine, rate=rate, seed=s(0), name="sometimes_affine")]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=s(5), name="flip_lr"))
    return keras.Sequential(layers, name="paper_augmentation")
