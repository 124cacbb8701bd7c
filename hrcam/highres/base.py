"""What HalfModel and FullModel share: the Keras-model plumbing (a Functional ``keras.Model`` subclass
over a plain Functional graph), input handling, batched compiled inference, top-n, saving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.arrays import resolve_targets
from hrcam.highres.layers import LAYERS
from hrcam.io import atomic_path
from hrcam.ops import select_classes

__all__ = ["CamModelBase"]


def _guided_options(guided: Any) -> tuple:
    """``generate_cams(guided=...)`` -> a hashable tuple of guided_upsample options (() = off)."""
    if guided is False or guided is None:
        return ()
    if guided is True:
        from hrcam.ops.guided import GUIDED_DEFAULTS

        return tuple(sorted(GUIDED_DEFAULTS.items()))
    if isinstance(guided, dict):
        from hrcam.ops.guided import GUIDED_DEFAULTS, check_guided_options

        unknown = sorted(set(guided) - {*GUIDED_DEFAULTS, "subsample"})
        if unknown:
            raise ValueError(f"`guided` options must be radius, eps, iterations, subsample; got {unknown}")
        opts = {**GUIDED_DEFAULTS, **guided}
        check_guided_options(opts["radius"], opts["eps"], opts["iterations"], opts.get("subsample") or 1)
        return tuple(sorted(opts.items()))
    raise TypeError(f"`guided` must be a bool or a dict of options, got {type(guided).__name__}")


class CamModelBase:
    """Mixin of :class:`~hrcam.highres.HalfModel` and :class:`~hrcam.highres.FullModel`.

    Subclasses are Functional ``keras.Model`` subclasses built with :meth:`_init_graph` over a *plain*
    Functional graph (``keras.Model(inputs, outputs)``) that shares their layers; that graph is
    :attr:`model` (today's meaning: the Keras model with the plain Keras API). Views over the same layers
    (``model``, ``cam_model``, ``half_model``) are cached outside Keras' attribute tracking, so Keras
    never tracks a layer twice. Serialised as ``{"name", "graph": <the graph's Keras config>, ...}``.
    """

    _MAP_KEYS: tuple[str, ...] = ()  # the ``maps_fn`` outputs ``generate_cams`` returns, in order

    # -- Keras plumbing -----------------------------------------------------------------------------
    def _init_graph(self, graph: keras.Model, name: str | None = None) -> None:
        single = len(graph.inputs) == 1
        # super() past this mixin: keras.Model.__init__ on the first instance (it injects Functional into
        # the class's bases), Functional.__init__ afterwards (the keras-hub task-model pattern).
        super().__init__(
            inputs=graph.inputs[0] if single else graph.inputs,
            outputs=graph.output,
            name=name or graph.name,
        )
        object.__setattr__(self, "_views", SimpleNamespace(model=graph))  # untracked by Keras

    def _view(self, key: str, build: Callable[[], Any]) -> Any:
        views = self._views
        if getattr(views, key, None) is None:
            setattr(views, key, build())
        return getattr(views, key)

    def _set_untracked(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def model(self) -> keras.Model:
        """The plain Functional ``keras.Model`` over this model's layers (``predict`` gives probabilities)."""
        return self._views.model

    @property
    def cam_model(self) -> keras.Model:
        """keras.Model: images -> the activations the CAMs need and the probabilities (built once)."""
        return self._view("cam_model", lambda: keras.Model(self.model.inputs[0], self._cam_outputs()))

    def _cam_outputs(self) -> list:  # pragma: no cover - each model defines it
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "graph": keras.saving.serialize_keras_object(self.model)}
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None):
        config = dict(config)
        trainable = config.pop("trainable", True)
        graph = keras.saving.deserialize_keras_object(config.pop("graph"), custom_objects=custom_objects)
        obj = cls(model=graph, **config)
        if not trainable:
            obj.trainable = False
        return obj

    # -- properties -------------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) the model takes (``keras.Model.input_shape`` would include the batch axis)."""
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.model.get_layer(LAYERS.logits).units)

    @property
    def cam_kernel(self) -> tf.Variable:
        """(K, C) kernel of the ``logits`` Dense layer that weights the CAM channels."""
        return self.model.get_layer(LAYERS.logits).kernel

    @property
    def cam_shape(self) -> tuple[int, int]:
        """(h, w) of the low-resolution CAM."""
        return tuple(int(d) for d in self.model.get_layer(LAYERS.cam_features).output.shape[1:3])

    # -- input handling ---------------------------------------------------------------------------
    def _images(self, x: Any, name: str = "x") -> tf.Tensor:
        """Validate and convert to float32 in [0, 1] (uint8 is divided by 255)."""
        return ops.as_images(x, name=name, channels=self.input_shape[-1])

    def _resize_in(self, x: tf.Tensor) -> tf.Tensor:
        return ops.resize_images(x, self.input_shape[:2])

    def _targets(self, custom_class: Any, batch: int, name: str = "custom_class") -> tuple[tf.Tensor, bool]:
        """(B, k) int32 with -1 meaning "the predicted class" (resolved in-graph by ``select_classes``)."""
        classes, multi = resolve_targets(custom_class, batch, self.num_classes, name=name)
        return tf.constant(classes, tf.int32), multi

    def _select(self, probabilities: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
        return select_classes(probabilities, classes)

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
    def _maps_compiled(self, images, classes, guided=()):
        out = self.maps_fn(images, classes)
        if guided:  # image-guided up-sampling of the low-res CAM (hrcam.ops.guided), in the same graph
            from hrcam.ops.guided import guided_upsample

            out["guided_cam"] = guided_upsample(images, out["cam"], **dict(guided))
        return out

    def _maps(
        self,
        x: Any,
        custom_class: Any,
        keys: tuple[str, ...],
        normalize: bool,
        batch_size: int | None,
        guided: tuple = (),
    ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Run the compiled ``maps_fn`` over ``x`` in chunks; return the ``keys`` maps and probabilities.

        Maps are (B, k, ...) for (B, k) targets, else (B, ...); min-max scaled per map when ``normalize``.
        """
        images = self._images(x)
        classes, multi = self._targets(custom_class, int(images.shape[0]))
        fn = self._maps_compiled if not guided else (lambda i, c: self._maps_compiled(i, c, guided))
        out = self._batched(fn, images, classes, batch_size=batch_size)
        maps = [out[key] if multi else out[key][:, 0] for key in keys]
        if normalize:
            maps = [ops.normalize_maps(m, batch_dims=2 if multi else 1) for m in maps]
        return maps, out["probabilities"]

    def generate_cams(
        self,
        x: Any,
        custom_class: Any = None,
        normalize: bool = True,
        batch_size: int | None = 64,
        as_tensor: bool = False,
        guided: bool | dict = False,
    ) -> tuple:
        """CAMs and probabilities for a whole batch in one compiled forward pass (chunks of ``batch_size``).

        Args:
            x: images (B, H, W, C), float32 in [0, 1] or uint8 (a FullModel also takes other sizes: its
                high-res CAM comes back at the request's size).
            custom_class: None (predicted class), an int, B ints, or (B, k) classes per image; -1 = the
                image's predicted class.
            normalize: min-max scale each map to [0, 1] (default, the same for HalfModel and FullModel);
                False gives raw CAM values ``dot(A, W[:, c])`` (bias ignored, as in the original).
            as_tensor: return tf.Tensors instead of NumPy arrays.
            guided: also return the image-guided up-sampling of the low-res CAM (:mod:`hrcam.ops.guided`, no
                training; ``True`` = validated defaults, or a dict of ``radius``/``eps``/``iterations``).

        Returns:
            HalfModel: ``(cam, probabilities)``; FullModel: ``(high, cam, probabilities)``. Maps float32:
            high (B, H, W), cam (B, h, w) at feature resolution; (B, k, ...) for (B, k) targets;
            probabilities (B, C). With ``guided``, the guided map (B, H, W) at the request's size comes
            right before the probabilities: ``(cam, guided, probabilities)`` / ``(high, cam, guided, probs)``.
        """
        options = _guided_options(guided)
        keys = self._MAP_KEYS + (("guided_cam",) if options else ())
        maps, probs = self._maps(x, custom_class, keys, normalize, batch_size, guided=options)
        result = (*maps, probs)
        return result if as_tensor else ops.to_numpy(result)

    # -- classification ---------------------------------------------------------------------------
    def predict_proba(self, x: Any, batch_size: int | None = 64) -> np.ndarray:
        """Class probabilities (B, C) float32 for images (B, H, W, C)."""
        images = self._images(x)
        return self._batched(self._probabilities_fn, images, batch_size=batch_size).numpy()

    def predict(self, x: Any, batch_size: int | None = 64, verbose: Any = None, **kwargs) -> np.ndarray:
        """Predicted class index (B,) int64 for images (B, H, W, C) (hrcam's meaning, not Keras').

        ``self.model.predict`` is Keras' (probabilities); ``verbose`` is accepted for Keras
        compatibility and ignored.
        """
        if kwargs:
            raise TypeError(f"`predict` takes images and `batch_size`; unexpected {sorted(kwargs)}")
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
        return out[LAYERS.probabilities] if isinstance(out, dict) else out

    # -- persistence ------------------------------------------------------------------------------
    def save(self, filepath: str | Path, overwrite: bool = True, **kwargs) -> Path:
        """Save in the ``.keras`` format, atomically (temp file, then rename); returns the path.

        The file loads with ``keras.saving.load_model`` (after ``import hrcam.highres``) as this class.
        Keyword arguments go to ``keras.Model.save`` (so Keras callbacks can call it).
        """
        path = Path(filepath)
        if path.suffix != ".keras":
            raise ValueError(f"`path` must end in '.keras', got {str(path)!r}")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{str(path)!r} exists and `overwrite` is False")
        with atomic_path(path) as tmp:
            super().save(tmp, overwrite=True, **kwargs)
        return path

    def summary(self, **kwargs) -> None:
        self.model.summary(**kwargs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, input_shape={self.input_shape}, "
            f"params={self.model.count_params():,})"
        )
