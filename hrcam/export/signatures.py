"""The serving functions of an hrcam SavedModel: request checks, decoding, saliency heads, top-k.

:class:`ServingHeads` binds a classifier (a :class:`~hrcam.models.HalfModel`, a
:class:`~hrcam.models.FullModel` or any Keras classifier) to a set of saliency *heads* and builds the
traceable functions that become the SavedModel's signatures:

==================  =========================================================  ======================
signature           inputs                                                     outputs
==================  =========================================================  ======================
``serving_default`` ``images`` float32 (B, H, W, C) in [0, 1]                   top-k + top-class maps
``serving_uint8``   ``images`` uint8 (B, H, W, C) in [0, 255]                   top-k + top-class maps
``serving_bytes``   ``image_bytes`` string (B,): encoded JPEG or PNG files      top-k + top-class maps
``explain``         ``images`` float32 + ``class_index`` int32 (B,), -1 = top  maps of that class
``explain_uint8``   ``images`` uint8 + ``class_index``                          maps of that class
``explain_bytes``   ``image_bytes`` + ``class_index``                           maps of that class
==================  =========================================================  ======================

Every request is checked *inside the graph* (``tf.debugging.Assert``), so a bad request fails with an
``InvalidArgument`` error naming the input, what came and what was expected, in TF Serving as in
``tf.saved_model.load``: wrong rank, channel count, empty batch, float pixels outside [0, 1] or not finite,
class index out of range or of the wrong length, undecodable bytes, images of different sizes in one
``image_bytes`` batch. Images of any size are resized in the graph to the model's input size (bilinear with
antialiasing, as the Python API does) and every map comes back at the request's size, min-max normalised
per map to [0, 1] (constant maps become zeros).

Heads (all computed in the same graph as the probabilities):

* ``cam``: the classifier's low-resolution CAM (HalfModel / FullModel), bilinearly up-sampled;
* ``high_res_cam``: the FullModel's high-resolution CAM;
* ``gradcam``: Grad-CAM from :class:`hrcam.saliency.GradCAM` (any Keras classifier).

All heads come from one forward pass through the network (with Grad-CAM: Grad-CAM's, which also captures the
CAM and high-resolution activations), plus, for Grad-CAM, a backward pass from the class score to Grad-CAM's
layer only (``conv_aux`` for hrcam models: through the pooling and the Dense layer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops

__all__ = [
    "HEADS",
    "SIGNATURES",
    "ServingHeads",
    "SignatureInfo",
    "TensorInfo",
    "load_classifier",
]

HEADS = ("cam", "high_res_cam", "gradcam")
SIGNATURES = (
    "serving_default",
    "serving_uint8",
    "serving_bytes",
    "explain",
    "explain_uint8",
    "explain_bytes",
)

# Same tolerance as hrcam.ops.check_images, so the server accepts exactly what the Python API accepts.
_FLOAT_TOLERANCE = ops._FLOAT_RANGE_TOLERANCE
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_SUMMARIZE = 8  # how many values of a tensor an error message shows


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output of a signature, for README.txt and hrcam_export.json."""

    name: str
    dtype: str
    shape: str
    description: str


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    """A signature's name, purpose, inputs and outputs (what the SavedModel exposes)."""

    name: str
    description: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "inputs": {t.name: dataclasses.asdict(t) for t in self.inputs},
            "outputs": {t.name: dataclasses.asdict(t) for t in self.outputs},
        }


# ----------------------------------------------------------------------------------------------------------
# Loading the classifier


def load_classifier(model: Any) -> Any:
    """Resolve ``model`` to a HalfModel, a FullModel or a ``keras.Model``.

    Args:
        model: a :class:`~hrcam.models.HalfModel`, :class:`~hrcam.models.FullModel`, ``keras.Model``, or the
            path of a ``.keras`` file (a FullModel file loads as a FullModel, an hrcam classifier as a
            HalfModel, anything else as a plain Keras model).

    Raises:
        FileNotFoundError: no file at the path.
        TypeError: anything else.
    """
    from hrcam.models import FullModel, HalfModel

    if isinstance(model, (HalfModel, FullModel, keras.Model)):
        return model
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"`model`: no model file at {str(path)!r}")
        if path.suffix != ".keras":
            raise ValueError(f"`model` must be a '.keras' file, got {str(path)!r}")
        keras_model = HalfModel._load_keras(path)
        if isinstance(keras_model.output, dict) and "reconstruction" in keras_model.output:
            return FullModel.load(path)
        try:
            return HalfModel.load(path)
        except ValueError:
            return keras_model
    raise TypeError(
        "`model` must be a HalfModel, a FullModel, a keras.Model or a '.keras' path, "
        f"got {type(model).__name__}"
    )


# ----------------------------------------------------------------------------------------------------------
# In-graph request checks


def _after(check: tf.Operation, value: tf.Tensor) -> tf.Tensor:
    """``value``, computed only once ``check`` has passed."""
    with tf.control_dependencies([check]):
        return tf.identity(value)


def _check_image_tensor(images: tf.Tensor, channels: int, name: str = "images") -> tf.Tensor:
    """Rank-4, non-empty, ``channels`` channels -> the same tensor with static shape (None, None, None, C).

    Only ``Assert`` ops and a reshape are used: ``tf.ensure_shape`` is evaluated before control dependencies
    when the request's shape is known, which would replace these messages by a generic one.
    """
    shape = tf.shape(images, out_type=tf.int32)
    rank_ok = tf.debugging.Assert(
        tf.equal(tf.size(shape), 4),
        [f"`{name}` must have rank 4 (batch, height, width, channels), got shape", shape],
        summarize=_SUMMARIZE,
        name=f"check_{name}_rank",
    )
    shape = _after(rank_ok, tf.concat([shape, [1, 1, 1, 1]], 0))
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    ok = tf.debugging.Assert(
        tf.equal(c, channels),
        [f"`{name}` must have {channels} channel(s) in the last axis, got shape", tf.shape(images)],
        summarize=_SUMMARIZE,
        name=f"check_{name}_channels",
    )
    b = _after(ok, b)
    ok = tf.debugging.Assert(
        tf.logical_and(b > 0, tf.logical_and(h > 0, w > 0)),
        [f"`{name}` must hold at least one image of at least 1x1 pixels, got shape", tf.shape(images)],
        summarize=_SUMMARIZE,
        name=f"check_{name}_size",
    )
    b = _after(ok, b)
    return tf.reshape(images, tf.stack([b, h, w, channels]))


def images_from_float(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Check a float32 request: (B, H, W, C), finite, in [0, 1] -> float32 (B, H, W, C)."""
    images = _check_image_tensor(images, channels)
    lo, hi = tf.reduce_min(images), tf.reduce_max(images)
    in_range = tf.reduce_all((images >= -_FLOAT_TOLERANCE) & (images <= 1.0 + _FLOAT_TOLERANCE))
    ok = tf.debugging.Assert(
        in_range,
        [
            "`images` float32 pixels must be finite and in [0, 1] (send 0-255 pixels as uint8 to the *_uint8 "
            "signatures), got values in",
            lo,
            hi,
        ],
        name="check_images_range",
    )
    return _after(ok, images)


def images_from_uint8(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Check a uint8 request (B, H, W, C) -> float32 in [0, 1] (``x / 255``, as ``hrcam.ops.as_images``)."""
    images = _check_image_tensor(images, channels)
    return tf.cast(images, tf.float32) / 255.0


def images_from_bytes(image_bytes: tf.Tensor, channels: int) -> tf.Tensor:
    """Decode a (B,) string batch of JPEG/PNG files -> float32 (B, H, W, C) in [0, 1].

    Grayscale and RGBA files are converted to ``channels`` (``tf.io.decode_image``); every image of one
    request must have the same size (send images of different sizes in separate requests).
    """
    shape = tf.shape(image_bytes, out_type=tf.int32)
    ok = tf.debugging.Assert(
        tf.logical_and(tf.equal(tf.size(shape), 1), tf.reduce_prod(shape) > 0),
        ["`image_bytes` must be a non-empty (batch,) vector of encoded JPEG/PNG files, got shape", shape],
        summarize=_SUMMARIZE,
        name="check_image_bytes_rank",
    )
    flat = tf.reshape(_after(ok, image_bytes), [-1])
    n = tf.size(flat)

    def decode(i: tf.Tensor) -> tf.Tensor:
        data = flat[i]
        head = tf.strings.substr(data, 0, 8)
        known = tf.logical_or(
            tf.equal(tf.strings.substr(head, 0, len(_JPEG_MAGIC)), _JPEG_MAGIC), tf.equal(head, _PNG_MAGIC)
        )
        ok = tf.debugging.Assert(
            known,
            ["`image_bytes` entry", i, "is not a JPEG or PNG file; its first bytes are", head],
            name="check_image_bytes_format",
        )
        img = tf.io.decode_image(_after(ok, data), channels=channels, expand_animations=False, dtype=tf.uint8)
        return tf.reshape(img, tf.concat([tf.shape(img)[:2], [channels]], 0))

    first = decode(tf.constant(0))
    size = tf.shape(first)[:2]

    def body(i: tf.Tensor, arr: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
        img = decode(i)
        ok = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(img)[:2], size)),
            [
                "all images of one `image_bytes` request must have the same size; entry 0 is (height, width)",
                size,
                "but entry",
                i,
                "is",
                tf.shape(img)[:2],
            ],
            name="check_image_bytes_sizes",
        )
        return i + 1, arr.write(i, _after(ok, img))

    arr = tf.TensorArray(tf.uint8, size=n, element_shape=tf.TensorShape([None, None, channels]))
    arr = arr.write(0, first)
    _, arr = tf.while_loop(lambda i, _: i < n, body, (tf.constant(1), arr))
    images = arr.stack()
    images.set_shape([None, None, None, channels])
    return tf.cast(images, tf.float32) / 255.0


def check_class_index(class_index: tf.Tensor, batch: tf.Tensor, num_classes: int) -> tf.Tensor:
    """Check ``class_index``: int32 (B,) with values in [-1, num_classes - 1] -> (B, 1) int32."""
    shape = tf.shape(class_index, out_type=tf.int32)
    ok = tf.debugging.Assert(
        tf.logical_and(tf.equal(tf.size(shape), 1), tf.equal(tf.reduce_prod(shape), batch)),
        [
            "`class_index` must have shape (batch,) = ",
            [batch],
            "(one class per image, -1 = predicted), got shape",
            shape,
        ],
        summarize=_SUMMARIZE,
        name="check_class_index_shape",
    )
    flat = tf.reshape(_after(ok, class_index), [-1])
    bad = tf.boolean_mask(flat, (flat < -1) | (flat >= num_classes))
    ok = tf.debugging.Assert(
        tf.equal(tf.size(bad), 0),
        [f"`class_index` values must be in [0, {num_classes - 1}] or -1 (the predicted class), got", bad],
        summarize=_SUMMARIZE,
        name="check_class_index_range",
    )
    return _after(ok, flat)[:, None]


# ----------------------------------------------------------------------------------------------------------
# Heads


def _resize_maps_to(maps: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """(B, h, w) -> (B, H, W) bilinear (half-pixel centres, as ``hrcam.ops.resize_maps``), skipped when the
    size already matches; ``size`` is a (2,) int32 tensor."""
    same = tf.reduce_all(tf.equal(tf.shape(maps)[1:3], size))
    return tf.cond(
        same,
        lambda: tf.identity(maps),
        lambda: tf.image.resize(maps[..., None], size, method="bilinear")[..., 0],
    )


def _serving_gradcam(
    model: keras.Model, layer: str | keras.layers.Layer | None, extra_outputs: Sequence[Any] = ()
) -> Any:
    """:class:`hrcam.saliency.GradCAM` (its traceable core, unchanged; a class of -1 is the image's predicted
    class, as in every saliency method's class selection) with one serving addition:

    * ``extra_outputs``: KerasTensors of the same network (e.g. the CAM layer's or the FullModel's
      high-resolution activations) captured during Grad-CAM's own forward pass, so every head comes from one
      forward pass. After ``_features_and_grads`` has run, :attr:`extra_values` holds their values.

    This needs the forward pass to run over a graph that also reaches the extra tensors: the method's
    graph runner is swapped for one over ``keras.Model(model.inputs, [model.outputs[0], *extra_outputs])``
    whose first output (the one Grad-CAM reads) is the classifier's output, as before.
    """
    from hrcam.saliency import GradCAM
    from hrcam.saliency.layers import GraphRunner

    method = GradCAM(model, layer=layer, normalize=False, upsample=False)
    method.extra_values = []
    extra = list(extra_outputs)
    if extra:
        runner = GraphRunner(keras.Model(model.inputs, [model.outputs[0], *extra]))

        class _CapturingRunner:
            has_graph = True

            def run(self, x: tf.Tensor, *, capture: Sequence[Any] = (), **kwargs: Any) -> Any:
                result = runner.run(x, capture=[*capture, *extra], **kwargs)
                method.extra_values = [result.captured[id(t)] for t in extra]
                result.outputs = result.outputs[:1]
                return result

        method._runner = _CapturingRunner()
    return method


class ServingHeads:
    """A classifier plus saliency heads, as traceable serving functions.

    Args:
        model: a HalfModel, FullModel, ``keras.Model`` (one image input (B, H, W, C), one (B, C) output) or a
            ``.keras`` path (see :func:`load_classifier`).
        heads: map outputs, a subset of ``("cam", "high_res_cam", "gradcam")`` (or a comma-separated string;
            ``"none"`` = no heads); ``None`` = every head the model supports (HalfModel: cam, gradcam;
            FullModel: cam, high_res_cam, gradcam; Keras classifier: gradcam); ``()`` = none (a bare
            classifier: probabilities and top-k only).
        top_k: how many classes ``classes``/``scores`` list (capped at the number of classes).
        gradcam_layer: Grad-CAM's layer (name or layer); ``None`` = hrcam's CAM layer ``conv_aux`` for hrcam
            models, else the last 4-D layer.

    Raises:
        ValueError: unknown or unsupported heads, a model that is not a single-input single-output
            classifier, ``top_k < 1``.
    """

    def __init__(
        self,
        model: Any,
        heads: Sequence[str] | str | None = None,
        top_k: int = 5,
        gradcam_layer: str | keras.layers.Layer | None = None,
    ) -> None:
        from hrcam.models import FullModel, HalfModel
        from hrcam.saliency.layers import find_layer

        model = load_classifier(model)
        self.wrapper = model if isinstance(model, (HalfModel, FullModel)) else None
        if isinstance(model, FullModel):
            self.kind = "full"
            self.half = model.half_model
            self.classifier = self.half.model
        elif isinstance(model, HalfModel):
            self.kind = "half"
            self.half = model
            self.classifier = model.model
        else:
            self.kind = "keras"
            self.half = None
            self.classifier = self._check_keras_classifier(model)
        self.keras_model = model.model if self.wrapper is not None else model
        self.input_shape: tuple[int | None, int | None, int] = tuple(
            None if d is None else int(d) for d in self.classifier.inputs[0].shape[1:]
        )
        self.channels = int(self.input_shape[-1])
        self.num_classes = int(self.classifier.outputs[0].shape[-1])
        supported = {"full": HEADS, "half": ("cam", "gradcam"), "keras": ("gradcam",)}[self.kind]
        self.heads = self._check_heads(heads, supported)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"`top_k` must be a positive int, got {top_k!r}")
        self.top_k = min(int(top_k), self.num_classes)
        self.gradcam = None
        self._extra_heads: tuple[str, ...] = ()
        if "gradcam" in self.heads:
            if gradcam_layer is None and self.kind != "keras":
                gradcam_layer = "conv_aux"
            # Every head from Grad-CAM's one forward pass: the CAM layer's and the high-res activations are
            # captured on the way unless Grad-CAM's own layer already is the CAM layer.
            extra: dict[str, Any] = {}
            if self.kind != "keras":
                cam_features = self.classifier.get_layer("conv_aux").output
                layer_tensor = find_layer(self.classifier, gradcam_layer).tensor
                if "cam" in self.heads and layer_tensor is not cam_features:
                    extra["cam"] = cam_features
                if "high_res_cam" in self.heads:
                    extra["high_res_cam"] = self.wrapper.cam_model.outputs[0]
            self.gradcam = _serving_gradcam(self.classifier, gradcam_layer, list(extra.values()))
            self._extra_heads = tuple(extra)
        elif gradcam_layer is not None:
            raise ValueError("`gradcam_layer` was given but the 'gradcam' head is not exported")
        # Every signature calls this one function: it is traced once (not once per signature), and the
        # SavedModel holds one copy of the network's graph.
        self._compute_fn = tf.function(
            self.compute,
            input_signature=[
                tf.TensorSpec([None, None, None, self.channels], tf.float32, name="images"),
                tf.TensorSpec([None, 1], tf.int32, name="classes"),
            ],
            autograph=False,
        )

    # -- validation ---------------------------------------------------------------------------------
    @staticmethod
    def _check_keras_classifier(model: keras.Model) -> keras.Model:
        inputs = list(getattr(model, "inputs", None) or [])
        outputs = list(getattr(model, "outputs", None) or [])
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ValueError(
                f"`model` {model.name!r} must take one image input (batch, height, width, channels), "
                "got inputs "
                f"{[tuple(t.shape) for t in inputs]}"
            )
        if len(outputs) != 1 or len(outputs[0].shape) != 2:
            raise ValueError(
                f"`model` {model.name!r} must have one (batch, classes) output, got outputs "
                f"{[tuple(t.shape) for t in outputs]}"
            )
        if inputs[0].shape[-1] is None:
            raise ValueError(
                f"`model` {model.name!r} must declare its channel count, got {tuple(inputs[0].shape)}"
            )
        return model

    def _check_heads(self, heads: Sequence[str] | str | None, supported: tuple[str, ...]) -> tuple[str, ...]:
        if heads is None:
            return supported
        if isinstance(heads, str):
            if heads.strip().lower() in ("", "none"):
                return ()
            heads = [h.strip() for h in heads.split(",") if h.strip()]
        heads = list(heads)
        unknown = [h for h in heads if h not in HEADS]
        if unknown:
            raise ValueError(f"`heads` has unknown head(s) {unknown}; known: {list(HEADS)}")
        unsupported = [h for h in heads if h not in supported]
        if unsupported:
            what = {"half": "a HalfModel", "keras": "a plain Keras classifier", "full": "a FullModel"}[
                self.kind
            ]
            hint = " (high_res_cam needs a FullModel)" if "high_res_cam" in unsupported else ""
            raise ValueError(
                f"`heads` {unsupported} cannot be exported for {what}; it supports {list(supported)}{hint}"
            )
        if len(set(heads)) != len(heads):
            raise ValueError(f"`heads` lists a head twice: {heads}")
        return tuple(h for h in HEADS if h in heads)

    # -- the computation ----------------------------------------------------------------------------
    def _to_model_size(self, images: tf.Tensor) -> tf.Tensor:
        """Resize to the model's (H, W) when the request differs (bilinear, antialias: the Python API's
        ``CamModelBase._resize_in``), with a static shape afterwards."""
        h, w, c = self.input_shape
        if h is None or w is None:
            return images
        same = tf.reduce_all(tf.equal(tf.shape(images)[1:3], [h, w]))
        out = tf.cond(
            same,
            lambda: tf.identity(images),
            lambda: tf.image.resize(images, (h, w), method="bilinear", antialias=True),
        )
        return tf.reshape(out, tf.stack([tf.shape(images)[0], h, w, c]))

    def compute(self, images: tf.Tensor, classes: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """The heads for a checked batch (traceable; also runs eagerly).

        Args:
            images: (B, H, W, C) float32 in [0, 1], any H and W.
            classes: (B, 1) int32 class per image, -1 = the predicted class; ``None`` = predicted.

        Returns:
            ``probabilities`` (B, C) float32, ``class_index`` (B,) int32 (the explained class) and one
            (B, H, W) float32 map in [0, 1] per head.
        """
        images = tf.convert_to_tensor(images, tf.float32)
        size = tf.shape(images)[1:3]
        x = self._to_model_size(images)
        if classes is None:
            classes = tf.fill([tf.shape(images)[0], 1], -1)
        raw: dict[str, tf.Tensor] = {}
        if self.gradcam is not None:
            # One forward pass (Grad-CAM's), one backward pass from the scores to Grad-CAM's layer only.
            preds, features, grads = self.gradcam._features_and_grads(x, classes)
            resolved = self.gradcam._select_classes(preds, classes)
            raw["gradcam"] = self.gradcam.cam_from_gradients(features, grads)
            acts = dict(zip(self._extra_heads, self.gradcam.extra_values, strict=True))
            if "cam" in self.heads:
                acts.setdefault("cam", features)  # Grad-CAM's layer is the CAM layer
            for head, a in acts.items():  # CAM and HR-CAM: the same op as the models' maps_fn
                raw[head] = ops.class_activation_maps(a, self.half.cam_kernel, resolved)
        elif "cam" in self.heads or "high_res_cam" in self.heads:
            source = self.wrapper if "high_res_cam" in self.heads else self.half
            out = source.maps_fn(x, classes)
            preds, resolved = out["probabilities"], out["classes"]
            raw.update({k: out[k] for k in ("cam", "high_res_cam") if k in self.heads})
        else:
            preds = self.classifier(x, training=False)
            predicted = tf.cast(tf.argmax(preds, -1), tf.int32)[:, None]
            resolved = tf.where(classes < 0, predicted, classes)
        result = {
            "probabilities": tf.cast(preds, tf.float32),
            "class_index": tf.cast(resolved[:, 0], tf.int32),
        }
        for head in self.heads:
            maps = tf.cast(raw[head][:, 0], tf.float32)
            result[head] = ops.normalize_maps(_resize_maps_to(maps, size))
        return result

    def _top(self, out: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        top = tf.math.top_k(out["probabilities"], k=self.top_k)
        result = {"probabilities": out["probabilities"], "classes": top.indices, "scores": top.values}
        result.update({h: out[h] for h in self.heads})
        return result

    def _explained(self, out: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        result = {"probabilities": out["probabilities"], "class_index": out["class_index"]}
        result.update({h: out[h] for h in self.heads})
        return result

    # -- signatures ---------------------------------------------------------------------------------
    def _predicted(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._top(self._compute_fn(x, tf.fill([tf.shape(x)[0], 1], -1)))

    def serving_default(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predicted(images_from_float(images, self.channels))

    def serving_uint8(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predicted(images_from_uint8(images, self.channels))

    def serving_bytes(self, image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predicted(images_from_bytes(image_bytes, self.channels))

    def _explain(self, x: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
        classes = check_class_index(class_index, tf.shape(x)[0], self.num_classes)
        return self._explained(self._compute_fn(x, classes))

    def explain(self, images: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._explain(images_from_float(images, self.channels), class_index)

    def explain_uint8(self, images: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._explain(images_from_uint8(images, self.channels), class_index)

    def explain_bytes(self, image_bytes: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._explain(images_from_bytes(image_bytes, self.channels), class_index)

    def signature_names(self) -> tuple[str, ...]:
        """The exported signatures: the three ``serving_*``, plus the three ``explain*`` when there are
        heads."""
        return SIGNATURES if self.heads else SIGNATURES[:3]

    def endpoints(self) -> dict[str, tuple[Callable[..., dict[str, tf.Tensor]], list[tf.TensorSpec]]]:
        """``name -> (function, input_signature)`` for ``keras.export.ExportArchive.add_endpoint``.

        Input specs have unknown rank so that a malformed request reaches the in-graph checks (and gets their
        message) instead of a generic shape-mismatch error.
        """
        img32 = tf.TensorSpec(None, tf.float32, name="images")
        img8 = tf.TensorSpec(None, tf.uint8, name="images")
        data = tf.TensorSpec(None, tf.string, name="image_bytes")
        cls = tf.TensorSpec(None, tf.int32, name="class_index")
        table = {
            "serving_default": (self.serving_default, [img32]),
            "serving_uint8": (self.serving_uint8, [img8]),
            "serving_bytes": (self.serving_bytes, [data]),
            "explain": (self.explain, [img32, cls]),
            "explain_uint8": (self.explain_uint8, [img8, cls]),
            "explain_bytes": (self.explain_bytes, [data, cls]),
        }
        return {name: table[name] for name in self.signature_names()}

    # -- documentation ------------------------------------------------------------------------------
    def signature_info(self) -> dict[str, SignatureInfo]:
        """What each exported signature takes and returns (for README.txt and hrcam_export.json)."""
        h, w, c = self.input_shape
        size = f"{h}x{w}" if h is not None and w is not None else "its input size"
        images = {
            "float32": TensorInfo(
                "images",
                "float32",
                f"(B, H, W, {c})",
                f"pixels in [0, 1], any H and W (resized in the graph to the model's {size})",
            ),
            "uint8": TensorInfo(
                "images",
                "uint8",
                f"(B, H, W, {c})",
                f"pixels in [0, 255], any H and W (resized in the graph to the model's {size})",
            ),
            "bytes": TensorInfo(
                "image_bytes",
                "string",
                "(B,)",
                'encoded JPEG or PNG files (REST: {"b64": "..."}); all of one request must have '
                "the same size",
            ),
        }
        class_index = TensorInfo(
            "class_index",
            "int32",
            "(B,)",
            f"class to explain per image, in [0, {self.num_classes - 1}]; -1 = the predicted class",
        )
        maps = {
            "cam": "low-resolution CAM (up-sampled)",
            "high_res_cam": "high-resolution CAM (HR-CAM)",
            "gradcam": f"Grad-CAM (layer {self.gradcam.layer_name!r})" if self.gradcam is not None else "",
        }
        probs = TensorInfo("probabilities", "float32", f"(B, {self.num_classes})", "class probabilities")
        top = (
            TensorInfo(
                "classes", "int32", f"(B, {self.top_k})", f"top-{self.top_k} class indices, best first"
            ),
            TensorInfo("scores", "float32", f"(B, {self.top_k})", "their probabilities"),
        )

        def map_info(which: str) -> tuple[TensorInfo, ...]:
            return tuple(
                TensorInfo(
                    head,
                    "float32",
                    "(B, H, W)",
                    f"{maps[head]} of {which}, in [0, 1]",
                )
                for head in self.heads
            )

        top_out = (probs, *top, *map_info("the top class"))
        explain_out = (
            probs,
            TensorInfo(
                "class_index", "int32", "(B,)", "the explained class (-1 replaced by the predicted class)"
            ),
            *map_info("class_index"),
        )
        infos = {
            "serving_default": SignatureInfo(
                "serving_default",
                "classify float32 images; maps of the top class",
                (images["float32"],),
                top_out,
            ),
            "serving_uint8": SignatureInfo(
                "serving_uint8", "classify uint8 images; maps of the top class", (images["uint8"],), top_out
            ),
            "serving_bytes": SignatureInfo(
                "serving_bytes", "classify JPEG/PNG files; maps of the top class", (images["bytes"],), top_out
            ),
            "explain": SignatureInfo(
                "explain",
                "maps of a chosen class per image (float32 images)",
                (images["float32"], class_index),
                explain_out,
            ),
            "explain_uint8": SignatureInfo(
                "explain_uint8",
                "maps of a chosen class per image (uint8 images)",
                (images["uint8"], class_index),
                explain_out,
            ),
            "explain_bytes": SignatureInfo(
                "explain_bytes",
                "maps of a chosen class per image (JPEG/PNG files)",
                (images["bytes"], class_index),
                explain_out,
            ),
        }
        return {name: infos[name] for name in self.signature_names()}
