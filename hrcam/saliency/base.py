"""The map-source contract every map hrcam makes builds on: one call from images and classes to maps.

:class:`SaliencyMethod` owns what all sources share: input validation (2D images or 3D volumes), targets
(``None`` / an int / B ints / (B, k), a negative class = the image's predicted class), finding the layer for
CAM methods, pre-softmax scores, batching, one ``tf.function`` per input shape (``traceable`` sources),
up-sampling to the input size, per-map min-max normalisation, and capturing intermediate activations.

A source implements one hook, :meth:`SaliencyMethod._compute` ((B, k) classes in, outputs (B, C) and raw maps
(B, k, *spatial) out). :meth:`SaliencyMethod.compute` is the tensor core; :meth:`SaliencyMethod.run` and
``method(x, targets)`` the NumPy front doors. Sources are made by name with :func:`hrcam.sources.get`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from hrcam.ops import as_images, normalize_maps, resize_maps, select_classes, to_numpy
from hrcam.saliency.batching import predict_batched, run_batched
from hrcam.saliency.channels import CHANNEL_REDUCTIONS, check_channel_reduce, reduce_channels
from hrcam.saliency.checks import (
    check_input_rank,
    check_mode,
    check_model_input,
    check_positive_int,
    one_hot_to_indices,
    require_guided_graph,
)
from hrcam.saliency.layers import (
    GraphRunner,
    LayerRef,
    ScoreSource,
    classifier_output,
    find_layer,
    find_score_source,
    graph_of,
)
from hrcam.saliency.result import CaptureState, Forward, SaliencyResult
from hrcam.saliency.tokens import check_token_grid

__all__ = ["SaliencyMethod", "SaliencyResult", "Forward", "reduce_channels", "check_channel_reduce"]
__all__ += ["CHANNEL_REDUCTIONS"]

Capture = str | keras.layers.Layer


class SaliencyMethod:
    """Base class: a saliency method bound to one Keras classifier.

    Args:
        model: a ``keras.Model`` with one image input, (B, H, W, C) in 2D mode or (B, D, H, W, C) in 3D mode,
            and a (B, C) output. Functional and Sequential models (also with nested models as layers) work
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
        channel_reduce: for input-space methods (those with a ``default_channel_reduce``), how the colour
            channels are reduced: ``"max_abs"``, ``"mean_abs"``, ``"sum"``, ``"l2"`` or ``"none"`` (maps keep
            the channel axis); ``None`` = the method's default.
        output: for a model with several outputs, the one holding the class scores: a key of a dict output
            (a FullModel's ``"probabilities"``) or an index into ``model.outputs``; ``None`` = the only one.
        token_grid: CAM methods on a vision transformer's token layer (B, N, C): its patch grid ``(h, w)``
            (or an int for h = w); the first N - h * w tokens (a class token) are dropped. ``None`` = inferred
            (:mod:`hrcam.saliency.tokens`; a token layer is also found automatically with ``layer=None``).

    Call it as ``preds, maps = method(x, target_class=None)`` (see :meth:`__call__`), ``method.run(x)``
    for the explained classes too, or ``method.compute(images, classes)`` on tensors inside a graph.
    """

    #: canonical method name, e.g. ``"GradCAM"``
    name: ClassVar[str] = "SaliencyMethod"
    #: the method weights one layer's activations (CAM family): ``layer=`` is resolved at construction
    needs_layer: ClassVar[bool] = False
    #: the method back-propagates (False: CAM, one forward pass)
    needs_gradients: ClassVar[bool] = True
    #: the method needs the model's graph (guided ReLUs); subclassed models are refused
    needs_graph: ClassVar[bool] = False
    #: input-space methods: the default ``channel_reduce`` (``None``: the method takes no such option)
    default_channel_reduce: ClassVar[str | None] = None
    #: :meth:`compute` traces into a ``tf.function`` (False: eager NumPy work inside, e.g. the refinement
    #: pipeline; such a source cannot be a serving head)
    traceable: ClassVar[bool] = True
    #: the maps depend on the requested class (False: class-agnostic, e.g. a CASM masker or a baseline)
    per_class: ClassVar[bool] = True
    #: samples per image evaluated in one batch (SmoothGrad noise samples, Integrated Gradients steps)
    samples_per_image: int = 1
    #: the method's own keyword options and their defaults (set as attributes, then checked by
    #: :meth:`_setup`), e.g. SmoothGrad's ``{"n_samples": 25, ...}``; unknown keywords are a TypeError
    options: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        model: keras.Model,
        layer: str | keras.layers.Layer | None = None,
        mode: str = "2D",
        batch_size: int = 64,
        normalize: bool = True,
        upsample: bool = True,
        use_logits: bool = True,
        channel_reduce: str | None = None,
        output: str | int | None = None,
        token_grid: Any = None,
        **options: Any,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")
        self.mode = check_mode(mode)
        self.rank = 4 if self.mode == "2D" else 5
        self.model = model
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.normalize = bool(normalize)
        self.upsample = bool(upsample)
        self.use_logits = bool(use_logits)
        self.output = output
        if channel_reduce is not None and self.default_channel_reduce is None:
            raise ValueError(f"{self.name} takes no `channel_reduce` (its maps have no channel axis)")
        self.channel_reduce = check_channel_reduce(channel_reduce or self.default_channel_reduce or "none")
        shape = check_model_input(model, self.mode)
        self._input_shape = shape  # (None, *spatial, C) or None (unknown: subclassed model)
        self.score: ScoreSource = find_score_source(model, use_logits=self.use_logits, output=output)
        self.num_classes: int | None = None
        self._output_index = 0
        if graph_of(model) is not None:
            out, self._output_index = classifier_output(model, output)
            self.num_classes = int(out.shape[-1])
        self.layer_ref: LayerRef | None = None
        self.token_grid = check_token_grid(token_grid)
        if self.needs_layer:
            self.layer_ref = find_layer(model, layer, rank=self.rank, grid=self.token_grid)
        if self.needs_graph:
            require_guided_graph(model, self.name)
        self._runner = GraphRunner(model)
        self.compiled_fns = {"predict": tf.function(lambda xb: self._forward(xb).preds, autograph=False)}
        self._capture_refs: dict[str, LayerRef] = {}
        self._capture_state: CaptureState | None = None
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(
                f"{self.name} got unexpected keyword argument(s) {unknown}; its own options are "
                f"{sorted(self.options) or 'none'}, besides the base's (layer, mode, batch_size, normalize, "
                "upsample, use_logits, channel_reduce, output, token_grid)"
            )
        for key, value in {**self.options, **options}.items():
            setattr(self, key, value)
        self._setup(layer)

    def _setup(self, layer: Any) -> None:
        """Hook for a method's own checks and derived state, after the options are set (default: none).

        Args:
            layer: the ``layer=`` argument as given (methods that resolve it themselves, e.g. CAM).
        """

    # --- public

    @property
    def layer_name(self) -> str | None:
        """Path of the layer the maps come from (CAM methods), e.g. ``"mobilenetv2/out_relu"``."""
        return self.layer_ref.path if self.layer_ref is not None else None

    def __repr__(self) -> str:
        layer = f", layer={self.layer_name!r}" * (self.layer_ref is not None)
        return f"{type(self).__name__}(model={self.model.name!r}, mode={self.mode!r}{layer})"

    def compute(
        self,
        images: Any,
        classes: Any = None,
        capture: Sequence[Capture] = (),
        seed: Any = None,
    ) -> SaliencyResult:
        """The core: predictions, explained classes, maps and captured activations in one traceable call.

        Runs eagerly or inside a ``tf.function`` (the export's serving heads trace it); no batching here.

        Args:
            images: (B, *spatial, C) float32 tensor in [0, 1] at the model's input size (not checked: use
                :meth:`__call__` for user input).
            classes: (B, k) int32, a negative entry = that image's predicted class; ``None`` = predicted
                (k = 1).
            capture: layers whose activations to return, each a name, a path ``"backbone/layer"`` or a
                layer of the model; they come from the forward pass on ``images`` (one extra forward pass
                only for methods that never run the model on the images themselves, e.g. Integrated
                Gradients).
            seed: (2,) int32 seed for stateless random ops (SmoothGrad); ``None`` = a fixed default.

        Returns:
            :class:`SaliencyResult`; ``captured`` is keyed by the given names (layers: their ``.name``).
        """
        x = tf.convert_to_tensor(images, tf.float32)
        if classes is None:
            classes = tf.fill(tf.stack([tf.shape(x)[0], 1]), -1)
        classes = tf.cast(classes, tf.int32)
        seed = tf.constant([0, 0], tf.int32) if seed is None else tf.cast(seed, tf.int32)
        self._capture_state = CaptureState(images=x, refs=self._resolve_capture(capture))
        try:
            preds, maps = self._compute(x, classes, seed)
            state = self._capture_state
            if state.refs and state.values is None:
                self._forward(x)  # the method never ran the model on the images themselves
            captured = dict(state.values or {})
        finally:
            self._capture_state = None
        return SaliencyResult(
            preds=preds,
            classes=select_classes(preds, classes),
            maps=self._postprocess(maps, x),
            captured=captured,
        )

    def __call__(
        self, x: Any, target_class: Any = None, as_tensor: bool = False
    ) -> tuple[np.ndarray, np.ndarray] | tuple[tf.Tensor, tf.Tensor]:
        """Compute model outputs and saliency maps for a batch (checked, batched, compiled).

        Args:
            x: (B, H, W, C) images (3D: (B, D, H, W, C) volumes), float32 in [0, 1] or uint8 in [0, 255].
            target_class: ``None`` (each image's predicted class), an int, B ints, or a (B, k) array of k
                classes per image (all k maps come from one forward pass); -1 = the predicted class.
            as_tensor: return ``tf.Tensor``s instead of NumPy arrays.

        Returns:
            ``(preds, maps)``: preds (B, C) float32 model outputs; maps float32 (B, H, W) / (B, D, H, W), or
            (B, k, ...) for (B, k) targets, each map in [0, 1] unless ``normalize=False``. Methods with
            ``channel_reduce="none"`` keep a trailing channel axis.

        Raises ValueError (wrong rank, channel count or size, values outside [0, 1], targets out of range),
        TypeError (non-numeric images or targets).
        """
        res = self.run(x, target_class, as_tensor=as_tensor)
        return res.preds, res.maps

    def run(self, x: Any, targets: Any = None, as_tensor: bool = False) -> SaliencyResult:
        """:meth:`__call__` with the explained classes: ``SaliencyResult(preds (B, C), classes (B, k), maps)``
        (NumPy arrays unless ``as_tensor``; maps (B, H, W), or (B, k, H, W) for (B, k) targets)."""
        preds, classes, maps = run_batched(self, x, targets)
        if not as_tensor:
            preds, classes, maps = to_numpy((preds, classes, maps))
        return SaliencyResult(preds=preds, classes=classes, maps=maps)

    @property
    def keras_models(self) -> list[keras.Model]:  # an export tracks their variables
        return [self.model]

    def predict(self, x: Any) -> np.ndarray:
        """(B, C) float32 model outputs for ``x`` (checked as in :meth:`__call__`; one compiled forward pass
        per chunk of ``batch_size`` images, no maps), e.g. to pick each image's top-k classes."""
        return to_numpy(predict_batched(self, x))

    def explain(self, inputs: Any, targets: Any = None) -> np.ndarray:
        """xplique-style entry point: maps only.

        Args:
            inputs: as ``x`` in :meth:`__call__`.
            targets: as ``target_class`` in :meth:`__call__`, or one-hot (B, C) float/bool rows (xplique's
                convention), which select each row's class.

        Returns:
            float32 maps, (B, H, W) (3D: (B, D, H, W)), or (B, k, ...) for (B, k) integer targets.
        """
        targets = one_hot_to_indices(targets, self.num_classes)
        _, maps = self(inputs, target_class=targets)
        return maps

    def check_input(self, x: Any) -> tf.Tensor:
        """``x`` checked and converted: float32 (B, *spatial, C) in [0, 1] (uint8 divided by 255).

        Raises:
            ValueError: wrong rank for the mode, channel count or size; values outside [0, 1].
        """
        check_input_rank(x, self.mode)
        channels = spatial = None
        if self._input_shape is not None:
            channels = self._input_shape[-1]
            spatial = self._input_shape[1:-1]
        return as_images(x, name="x", rank=self.rank, channels=channels, spatial_shape=spatial)

    # --- for subclasses

    def _compute(self, x: tf.Tensor, classes: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Model outputs and raw maps for one batch (runs inside a ``tf.function``).

        Args:
            x: (b, *spatial, C) float32 images in [0, 1].
            classes: (b, k) int32 classes, a negative entry = the image's predicted class.
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
        """Run the model once, capturing the scores, (optionally) the chosen layer's activations and, on the
        first pass over the images of a :meth:`compute` call, the requested ``capture=`` layers.

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
        state = self._capture_state
        extra = state is not None and state.values is None and x is state.images and bool(state.refs)
        if extra:
            capture.extend(ref.tensor for ref in state.refs.values())
        res = self._runner.run(
            x,
            capture=capture,
            watch=watch,
            linear=linear,
            on_watch=tape.watch if tape is not None else None,
            guided=guided,
        )
        if extra:
            state.values = {name: self._reached(res.captured, ref) for name, ref in state.refs.items()}
        preds, scores = self._preds_and_scores(res)
        raw = self._reached(res.captured, self.layer_ref) if (features or watch_features) else None
        feats = None if raw is None else self.layer_ref.spatial(raw)
        return Forward(
            preds, scores, features=feats, watched=raw, guided_after_features=res.guided_after_watch
        )

    def _preds_and_scores(self, res: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """(preds, scores) float32 (B, C) of a :class:`~hrcam.saliency.graph.GraphRunner` run."""
        preds = tf.cast(res.outputs[self._output_index], tf.float32)
        if self.score.linear_layer is not None:
            scores = res.linear[id(self.score.linear_layer)]
        elif self.score.tensor is not None:
            scores = res.captured[id(self.score.tensor)]
        else:
            scores = res.outputs[self._output_index]
        return preds, tf.cast(scores, tf.float32)

    def _reached(self, captured: dict[int, tf.Tensor], ref: LayerRef) -> tf.Tensor:
        if id(ref.tensor) not in captured:
            raise ValueError(
                f"layer {ref.path!r} was not reached when running model {self.model.name!r} "
                "(it is not connected to the model's input); pass another layer"
            )
        return captured[id(ref.tensor)]

    @staticmethod
    def _select_classes(preds: tf.Tensor, classes: tf.Tensor | None) -> tf.Tensor:
        """(b, k) int32 classes: negative entries (and ``None``) -> each image's predicted class."""
        return select_classes(preds, classes)

    # --- internal

    def _resolve_capture(self, capture: Sequence[Capture]) -> dict[str, LayerRef]:
        if isinstance(capture, (str, keras.layers.Layer)):
            capture = (capture,)
        refs: dict[str, LayerRef] = {}
        for item in capture:
            key = item if isinstance(item, str) else getattr(item, "name", repr(item))
            if key not in self._capture_refs:
                self._capture_refs[key] = find_layer(self.model, item, rank=None)
            refs[key] = self._capture_refs[key]
        return refs

    def _postprocess(self, maps: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """Up-sample (b, k, *spatial[, C]) maps to the input size and min-max normalise each map."""
        maps = tf.cast(maps, tf.float32)
        n_sp = self.rank - 2
        size = list(x.shape[1 : 1 + n_sp])
        if self.upsample and list(maps.shape[2 : 2 + n_sp]) != size:
            if None in size:
                raise ValueError(f"upsample=True needs a static input size, got images of shape {x.shape}")
            maps = resize_maps(maps, size)
        if self.normalize:
            maps = normalize_maps(maps, batch_dims=2)
        return maps
