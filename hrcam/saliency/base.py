"""The base class every saliency method builds on.

:class:`SaliencyMethod` owns what all methods share: input validation (2D images or 3D volumes), target
selection (``None`` = predicted class, an int, B ints, or (B, k) classes per image), finding the layer for CAM
methods, pre-softmax scores, batching, one ``tf.function`` per input shape, up-sampling to the input size and
per-map min-max normalisation. A method only implements :meth:`SaliencyMethod._compute`: a batch of images and
(B, k) classes in, model outputs (B, C) and raw maps (B, k, *spatial) out, all inside one graph.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from hrcam.ops import as_images, normalize_maps, resize_maps, resolve_targets, to_numpy
from hrcam.saliency.layers import (
    GraphRunner,
    LayerRef,
    ScoreSource,
    find_layer,
    find_score_source,
    graph_of,
    is_guided_relu,
    iter_nodes,
)

__all__ = ["SaliencyMethod", "Forward", "reduce_channels", "CHANNEL_REDUCTIONS"]

CHANNEL_REDUCTIONS = ("max_abs", "mean_abs", "sum", "l2", "none")


def reduce_channels(grads: tf.Tensor, how: str) -> tf.Tensor:
    """Reduce the channel axis (last) of input-space attributions.

    Args:
        grads: (..., C) float tensor.
        how: ``"max_abs"`` (max of |g| over channels, Simonyan et al.), ``"mean_abs"``,
            ``"sum"`` (keeps signs; Integrated Gradients' completeness), ``"l2"`` (Euclidean norm)
            or ``"none"`` (keep the channels).
    """
    if how == "max_abs":
        return tf.reduce_max(tf.abs(grads), axis=-1)
    if how == "mean_abs":
        return tf.reduce_mean(tf.abs(grads), axis=-1)
    if how == "sum":
        return tf.reduce_sum(grads, axis=-1)
    if how == "l2":
        return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=-1))
    if how == "none":
        return grads
    raise ValueError(f"`channel_reduce` must be one of {CHANNEL_REDUCTIONS}, got {how!r}")


def check_channel_reduce(how: str) -> str:
    if how not in CHANNEL_REDUCTIONS:
        raise ValueError(f"`channel_reduce` must be one of {CHANNEL_REDUCTIONS}, got {how!r}")
    return how


@dataclasses.dataclass
class Forward:
    """One forward pass through the model.

    Attributes:
        preds: (B, C) float32 model outputs (probabilities when the model ends in a softmax).
        scores: (B, C) float32 scores to explain (pre-softmax unless ``use_logits=False``).
        features: (B, *spatial, K) activations of the chosen layer (in the layer's dtype), or ``None``.
        guided_after_features: a guided ReLU lies between ``features`` and ``scores``.
    """

    preds: tf.Tensor
    scores: tf.Tensor
    features: tf.Tensor | None = None
    guided_after_features: bool = False


def _check_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode.upper() not in ("2D", "3D"):
        raise ValueError(f"`mode` must be '2D' (images NHWC) or '3D' (volumes NDHWC), got {mode!r}")
    return mode.upper()


def _model_input_shape(model: keras.Model) -> tuple | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs; saliency methods need a single image input"
        )
    return tuple(inputs[0].shape)


class SaliencyMethod:
    """Base class: a saliency method bound to one Keras classifier.

    Args:
        model: a ``keras.Model`` with one image input, (B, H, W, C) in 2D mode or (B, D, H, W, C) in 3D mode,
            and one (B, C) output. Functional and Sequential models (also with nested models as layers) work
            with every method; subclassed models only with the input-gradient methods. The model is never
            modified.
        layer: for CAM methods, the layer whose activations are weighted: a name, a path ``"backbone/conv"``,
            a ``keras.layers.Layer``, or ``None`` for the last layer with a 4-D (3D mode: 5-D) output, also
            inside a nested backbone. Ignored by the input-gradient methods.
        mode: ``"2D"`` or ``"3D"``.
        batch_size: images per compiled call (methods with n samples per image use
            ``batch_size // n`` images).
        normalize: min-max scale each map to [0, 1] (constant maps become zeros); ``False`` gives raw values.
        upsample: resize feature-resolution maps to the input size (bilinear, half-pixel centres).
        use_logits: explain pre-softmax/pre-sigmoid scores when the model ends in a softmax/sigmoid.

    Call it as ``preds, maps = method(x, target_class=None)``:
        ``x``: (B, H, W, C) (or (B, D, H, W, C)) float32 in [0, 1] or uint8.
        ``preds``: (B, C) float32 model outputs.
        ``maps``: (B, H, W) (3D: (B, D, H, W)) float32; (B, k, H, W) when ``target_class`` is (B, k).
    """

    #: canonical method name, e.g. ``"GradCAM"``
    name: ClassVar[str] = "SaliencyMethod"
    #: the method needs a layer (CAM family)
    uses_layer: ClassVar[bool] = False
    #: samples per image evaluated in one batch (SmoothGrad noise samples, Integrated Gradients steps)
    samples_per_image: int = 1

    def __init__(
        self,
        model: keras.Model,
        layer: str | keras.layers.Layer | None = None,
        mode: str = "2D",
        batch_size: int = 64,
        normalize: bool = True,
        upsample: bool = True,
        use_logits: bool = True,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")
        self.mode = _check_mode(mode)
        self.rank = 4 if self.mode == "2D" else 5
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")
        self.model = model
        self.batch_size = int(batch_size)
        self.normalize = bool(normalize)
        self.upsample = bool(upsample)
        self.use_logits = bool(use_logits)
        shape = _model_input_shape(model)
        if shape is not None and len(shape) != self.rank:
            if len(shape) == 5 and self.mode == "2D":
                raise ValueError(
                    f"model {model.name!r} takes 5-D inputs {shape} (volumes (batch, depth, height, width, "
                    "channels)) but mode='2D'; use mode='3D'"
                )
            if len(shape) == 4 and self.mode == "3D":
                raise ValueError(
                    f"model {model.name!r} takes 4-D inputs {shape} (images (batch, height, width, "
                    "channels)) "
                    "but mode='3D'; use mode='2D'"
                )
            raise ValueError(
                f"model {model.name!r} input shape {shape} is neither 4-D (2D mode) nor 5-D (3D mode)"
            )
        self._input_shape = shape  # (None, *spatial, C) or None (unknown: subclassed model)
        self.score: ScoreSource = find_score_source(model, use_logits=self.use_logits)
        self.num_classes: int | None = None
        if graph_of(model) is not None:
            self.num_classes = int(model.outputs[0].shape[-1])
        self.layer_ref: LayerRef | None = None
        if self.uses_layer:
            self.layer_ref = find_layer(model, layer, rank=self.rank)
        self._runner = GraphRunner(model)
        self._fns: dict[tuple, Any] = {}

    def _require_guided_graph(self) -> None:
        """For guided methods: the model's ReLUs must be reachable (a graph), and there should be some."""
        if graph_of(self.model) is None:
            raise ValueError(
                f"{self.name} needs a Functional or Sequential model (built on keras.Input) to reach its "
                f"ReLUs; model {self.model.name!r} is a subclassed model. Use Gradients or SmoothGrad instead"
            )
        if not any(is_guided_relu(node.operation) for _, node in iter_nodes(self.model)):
            warnings.warn(
                f"model {self.model.name!r} has no ReLU layers or ReLU activations: {self.name} gives plain "
                "gradients here (guided backprop only changes how ReLUs back-propagate)",
                stacklevel=3,
            )

    # --- public

    @property
    def layer_name(self) -> str | None:
        """Path of the layer the maps come from (CAM methods), e.g. ``"mobilenetv2/out_relu"``."""
        return self.layer_ref.path if self.layer_ref is not None else None

    def __repr__(self) -> str:
        layer = f", layer={self.layer_name!r}" if self.layer_ref is not None else ""
        return f"{type(self).__name__}(model={self.model.name!r}, mode={self.mode!r}{layer})"

    def __call__(
        self, x: Any, target_class: Any = None, as_tensor: bool = False
    ) -> tuple[np.ndarray, np.ndarray] | tuple[tf.Tensor, tf.Tensor]:
        """Compute model outputs and saliency maps for a batch.

        Args:
            x: (B, H, W, C) images (3D: (B, D, H, W, C) volumes), float32 in [0, 1] or uint8 in [0, 255].
            target_class: ``None`` (each image's predicted class), an int, B ints, or a (B, k) array of k
                classes per image (all k maps come from one forward pass).
            as_tensor: return ``tf.Tensor``s instead of NumPy arrays.

        Returns:
            ``(preds, maps)``: preds (B, C) float32 model outputs; maps float32 (B, H, W) / (B, D, H, W), or
            (B, k, ...) for (B, k) targets, each map in [0, 1] unless ``normalize=False``. Methods with
            ``channel_reduce="none"`` keep a trailing channel axis.

        Raises:
            ValueError: wrong rank, channel count or size, values outside [0, 1], targets out of range.
            TypeError: non-numeric images or targets.
        """
        x = self._check_input(x)
        batch = int(x.shape[0])
        num_classes = self.num_classes
        if target_class is None:
            classes, multi, use_pred = None, False, True
        else:
            if num_classes is None:
                num_classes = self._probe_num_classes(x)
            classes, multi = resolve_targets(
                target_class, tf.zeros((batch, num_classes)), num_classes, name="target_class"
            )
            use_pred = False
        k = 1 if classes is None else int(classes.shape[1])
        fn = self._compiled(tuple(int(s) for s in x.shape[1:]), k, use_pred, squeeze=not multi)
        step = max(1, self.batch_size // max(1, int(self.samples_per_image)))
        base_seed = self._base_seed()
        preds, maps = [], []
        for i, start in enumerate(range(0, batch, step)):
            xb = x if step >= batch else x[start : start + step]  # no copy for a single chunk
            cb = (
                classes[start : start + step] if classes is not None else tf.zeros((xb.shape[0], 1), tf.int32)
            )
            p, m = fn(xb, cb, tf.constant([base_seed, i], tf.int32))
            preds.append(p)
            maps.append(m)
        preds_t = preds[0] if len(preds) == 1 else tf.concat(preds, 0)
        maps_t = maps[0] if len(maps) == 1 else tf.concat(maps, 0)
        if as_tensor:
            return preds_t, maps_t
        return to_numpy(preds_t), to_numpy(maps_t)

    def explain(self, inputs: Any, targets: Any = None) -> np.ndarray:
        """xplique-style entry point: maps only.

        Args:
            inputs: as ``x`` in :meth:`__call__`.
            targets: as ``target_class`` in :meth:`__call__`, or one-hot (B, C) float/bool rows (xplique's
                convention), which select each row's class.

        Returns:
            float32 maps, (B, H, W) (3D: (B, D, H, W)), or (B, k, ...) for (B, k) integer targets.
        """
        if targets is not None and not isinstance(targets, (int, np.integer)):
            arr = np.asarray(to_numpy(targets))
            if (
                arr.ndim == 2
                and arr.dtype.kind in "fb"
                and self.num_classes
                and arr.shape[1] == self.num_classes
            ):
                if arr.size and np.all((arr == 0) | (arr == 1)) and np.all(arr.sum(axis=1) == 1):
                    targets = arr.argmax(axis=1).astype(np.int32)
                else:
                    raise ValueError(
                        f"`targets` of shape {arr.shape} and dtype {arr.dtype} looks like one-hot rows but "
                        "is not one-hot (exactly one 1 per row); pass class indices instead"
                    )
        _, maps = self(inputs, target_class=targets)
        return maps

    # --- for subclasses

    def _compute(
        self, x: tf.Tensor, classes: tf.Tensor | None, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Model outputs and raw maps for one batch (runs inside a ``tf.function``).

        Args:
            x: (b, *spatial, C) float32 images in [0, 1].
            classes: (b, k) int32 classes, or ``None`` for each image's predicted class (k = 1).
            seed: (2,) int32 seed for stateless random ops.

        Returns:
            ``(preds (b, C), maps (b, k, *map_spatial))``; maps at feature or input resolution, unnormalised.
        """
        raise NotImplementedError

    def _forward(
        self,
        x: tf.Tensor,
        *,
        features: bool = False,
        watch_features: bool = False,
        tape: tf.GradientTape | None = None,
        guided: bool = False,
    ) -> Forward:
        """Run the model once, capturing the scores and (optionally) the chosen layer's activations.

        With ``watch_features``, ``tape.watch`` is called on the activations the moment they are produced, so
        a gradient w.r.t. them back-propagates only through the layers after them (never into the weights,
        which are not watched when the tape has ``watch_accessed_variables=False``).
        """
        capture, watch, linear = [], [], []
        if self.score.tensor is not None:
            capture.append(self.score.tensor)
        if self.score.linear_layer is not None:
            linear.append(self.score.linear_layer)
        if features or watch_features:
            if self.layer_ref is None:
                raise RuntimeError(f"{type(self).__name__} has no layer to capture")
            (watch if watch_features else capture).append(self.layer_ref.tensor)
        res = self._runner.run(
            x,
            capture=capture,
            watch=watch,
            linear=linear,
            on_watch=tape.watch if tape is not None else None,
            guided=guided,
        )
        preds = tf.cast(res.outputs[0], tf.float32)
        if self.score.linear_layer is not None:
            scores = res.linear[id(self.score.linear_layer)]
        elif self.score.tensor is not None:
            scores = res.captured[id(self.score.tensor)]
        else:
            scores = res.outputs[0]
        feats = None
        if features or watch_features:
            if id(self.layer_ref.tensor) not in res.captured:
                raise ValueError(
                    f"layer {self.layer_ref.path!r} was not reached when running model {self.model.name!r} "
                    "(it is not connected to the model's input); pass another layer="
                )
            feats = res.captured[id(self.layer_ref.tensor)]
        return Forward(
            preds=preds,
            scores=tf.cast(scores, tf.float32),
            features=feats,
            guided_after_features=res.guided_after_watch,
        )

    @staticmethod
    def _select_classes(preds: tf.Tensor, classes: tf.Tensor | None) -> tf.Tensor:
        """(b, k) int32 classes; ``None`` -> each image's predicted class, (b, 1); a negative entry -> that
        image's predicted class (the convention of the models' ``maps_fn`` and the serving ``explain``)."""
        predicted = tf.cast(tf.argmax(preds, axis=-1), tf.int32)[:, None]
        if classes is None:
            return predicted
        classes = tf.cast(classes, tf.int32)
        return tf.where(classes < 0, predicted, classes)

    @staticmethod
    def _targets(scores: tf.Tensor, classes: tf.Tensor) -> list[tf.Tensor]:
        """k scalars ``sum_b scores[b, classes[b, j]]``; the gradient of each gives every image's gradient for
        its j-th class at once (images do not interact in inference mode)."""
        k = int(classes.shape[1])
        return [tf.reduce_sum(tf.gather(scores, classes[:, j], batch_dims=1)) for j in range(k)]

    @staticmethod
    def _gradients(tape: tf.GradientTape, targets: list[tf.Tensor], source: tf.Tensor) -> tf.Tensor:
        """Stack the gradients of the k targets w.r.t. ``source``: (b, k, *source.shape[1:]) float32."""
        grads = [
            tf.cast(tape.gradient(t, source, unconnected_gradients=tf.UnconnectedGradients.ZERO), tf.float32)
            for t in targets
        ]
        return tf.stack(grads, axis=1)

    @staticmethod
    def _num_targets(classes: tf.Tensor | None) -> int:
        return 1 if classes is None else int(classes.shape[1])

    # --- internal

    def _check_input(self, x: Any) -> tf.Tensor:
        ndim = getattr(x, "ndim", None)
        if ndim is None and hasattr(x, "shape"):
            ndim = len(x.shape)
        if ndim is not None and self.mode == "2D" and ndim == 5:
            raise ValueError(
                f"`x` has rank 5 (volumes (batch, depth, height, width, channels)), shape "
                f"{tuple(x.shape)}, but this explainer is in mode='2D'; use mode='3D' with a 3D model"
            )
        if ndim is not None and self.mode == "3D" and ndim == 4:
            raise ValueError(
                f"`x` has rank 4 (images (batch, height, width, channels)), shape {tuple(x.shape)}, but this "
                "explainer is in mode='3D' (expects (batch, depth, height, width, channels))"
            )
        channels = spatial = None
        if self._input_shape is not None:
            channels = self._input_shape[-1]
            spatial = self._input_shape[1:-1]
        return as_images(x, name="x", rank=self.rank, channels=channels, spatial_shape=spatial)

    def _probe_num_classes(self, x: tf.Tensor) -> int:
        out = self.model(x[:1], training=False)
        self.num_classes = int(tf.nest.flatten(out)[0].shape[-1])
        return self.num_classes

    def _base_seed(self) -> int:
        seed = getattr(self, "seed", None)
        if seed is None:
            return int(np.random.default_rng().integers(0, 2**31 - 1))
        return int(seed)

    def _compiled(self, item_shape: tuple[int, ...], k: int, use_pred: bool, squeeze: bool = False) -> Any:
        key = (item_shape, k, use_pred, squeeze)
        fn = self._fns.get(key)
        if fn is None:
            fn = tf.function(
                functools.partial(self._batch, use_pred=use_pred, squeeze=squeeze),
                input_signature=[
                    tf.TensorSpec((None, *item_shape), tf.float32),
                    tf.TensorSpec((None, k), tf.int32),
                    tf.TensorSpec((2,), tf.int32),
                ],
                autograph=False,
            )
            self._fns[key] = fn
        return fn

    def _batch(
        self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor, use_pred: bool, squeeze: bool
    ) -> tuple[tf.Tensor, tf.Tensor]:
        preds, maps = self._compute(x, None if use_pred else classes, seed)
        maps = self._postprocess(maps, x)
        return preds, (tf.squeeze(maps, axis=1) if squeeze else maps)

    def _postprocess(self, maps: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """Up-sample (b, k, *spatial[, C]) maps to the input size and min-max normalise each map."""
        maps = tf.cast(maps, tf.float32)
        n_sp = self.rank - 2
        size = [int(s) for s in x.shape[1 : 1 + n_sp]]
        map_sp = [int(s) for s in maps.shape[2 : 2 + n_sp]]
        if self.upsample and map_sp != size:
            maps = resize_maps(maps, size)
        if self.normalize:
            maps = normalize_maps(maps, batch_dims=2)
        return maps
