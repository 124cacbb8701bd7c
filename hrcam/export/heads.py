"""The serving functions of an hrcam SavedModel: saliency heads and top-k over checked requests.

:class:`ServingHeads` binds a classifier (a :class:`~hrcam.highres.HalfModel`, a
:class:`~hrcam.highres.FullModel` or any Keras classifier) to a set of saliency *heads* and builds the
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

Requests are checked in the graph (:mod:`hrcam.export.requests`). Images of any size are resized in the graph
to the model's input size (bilinear with antialiasing, as the Python API does) and every map comes back at the
request's size, min-max normalised per map to [0, 1] (constant maps become zeros).

Heads (all computed in the same graph as the probabilities):

* ``cam``: the classifier's low-resolution CAM (HalfModel / FullModel), bilinearly up-sampled;
* ``high_res_cam``: the FullModel's high-resolution CAM;
* ``gradcam``: Grad-CAM from :class:`hrcam.saliency.GradCAM` (any Keras classifier);
* ``guided_cam``: the low-res CAM up-sampled with the image as guide (:mod:`hrcam.ops.guided`; HalfModel /
  FullModel; exported only when asked for).

All heads come from one forward pass through the network: with Grad-CAM, the public saliency core's
``GradCAM.compute(images, classes, capture=(...))`` runs it and captures the CAM and high-resolution
activations on the way; then one backward pass from the class score to Grad-CAM's layer only (``conv_aux``
for hrcam models: through the pooling and the Dense layer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam import ops
from hrcam.export.describe import SignatureInfo, signature_info
from hrcam.export.requests import (
    check_class_index,
    images_from_bytes,
    images_from_float,
    images_from_uint8,
    resize_maps_to,
)
from hrcam.ops import select_classes

__all__ = ["HEADS", "SIGNATURES", "ServingHeads", "load_classifier"]

HEADS = ("cam", "high_res_cam", "gradcam", "guided_cam")
_DEFAULT_HEADS = {"full": HEADS[:3], "half": ("cam", "gradcam"), "keras": ("gradcam",)}
SIGNATURES = (
    "serving_default",
    "serving_uint8",
    "serving_bytes",
    "explain",
    "explain_uint8",
    "explain_bytes",
)


def _load_model_file(path: Path) -> Any:
    """A ``.keras`` file through hrcam's one loading path (:func:`hrcam.highres.load_model`)."""
    from hrcam.highres import load_model

    return load_model(path)


def load_classifier(model: Any) -> Any:
    """Resolve ``model`` to a HalfModel, a FullModel or a ``keras.Model``.

    Args:
        model: a :class:`~hrcam.highres.HalfModel`, :class:`~hrcam.highres.FullModel`, ``keras.Model``, or the
            path of a ``.keras`` file (a FullModel file loads as a FullModel, an hrcam classifier as a
            HalfModel, anything else as a plain Keras model).

    Raises:
        FileNotFoundError: no file at the path.
        TypeError: anything else.
    """
    from hrcam.highres import FullModel, HalfModel

    if isinstance(model, (HalfModel, FullModel, keras.Model)):
        return model
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"`model`: no model file at {str(path)!r}")
        if path.suffix != ".keras":
            raise ValueError(f"`model` must be a '.keras' file, got {str(path)!r}")
        return _load_model_file(path)
    raise TypeError(
        "`model` must be a HalfModel, a FullModel, a keras.Model or a '.keras' path, "
        f"got {type(model).__name__}"
    )


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
        from hrcam.highres import FullModel, HalfModel

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
        supported = {"full": HEADS, "half": ("cam", "gradcam", "guided_cam"), "keras": ("gradcam",)}[
            self.kind
        ]
        self.heads = self._check_heads(_DEFAULT_HEADS[self.kind] if heads is None else heads, supported)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"`top_k` must be a positive int, got {top_k!r}")
        self.top_k = min(int(top_k), self.num_classes)
        self.gradcam = None
        self.capture: dict[str, str] = {}  # head -> the layer whose activations it needs
        if "gradcam" in self.heads:
            if gradcam_layer is None and self.kind != "keras":
                gradcam_layer = "conv_aux"
            self.gradcam, self.capture = self._gradcam_head(gradcam_layer)
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

    def _gradcam_head(self, layer: str | keras.layers.Layer | None) -> tuple[Any, dict[str, str]]:
        """Grad-CAM (raw maps at feature resolution) on a model whose graph also reaches the other heads'
        activations, and the layers to capture from its one forward pass (``conv_aux``, the high-res one)."""
        from hrcam.saliency import GradCAM
        from hrcam.saliency.graph import producer

        model, capture = self.classifier, {}
        if "cam" in self.heads or "guided_cam" in self.heads:
            capture["cam"] = "conv_aux"
        if "high_res_cam" in self.heads:
            high_res = self.wrapper.cam_model.outputs[0]  # (B, H, W, K), beyond the classifier's graph
            model = keras.Model(self.classifier.inputs, [self.classifier.outputs[0], high_res])
            capture["high_res_cam"] = producer(high_res)[0].name
        return GradCAM(model, layer=layer, normalize=False, upsample=False, output=0), capture

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
            # One forward pass (Grad-CAM's, capturing the CAM and high-res activations), one backward pass
            # from the scores to Grad-CAM's layer only.
            res = self.gradcam.compute(x, classes, capture=tuple(self.capture.values()))
            preds, resolved = res.preds, res.classes
            raw["gradcam"] = res.maps
            for head, layer in self.capture.items():  # CAM and HR-CAM: the same op as the models' maps_fn
                raw[head] = ops.class_activation_maps(res.captured[layer], self.half.cam_kernel, resolved)
        elif {"cam", "high_res_cam", "guided_cam"} & set(self.heads):
            source = self.wrapper if "high_res_cam" in self.heads else self.half
            out = source.maps_fn(x, classes)
            preds, resolved = out["probabilities"], out["classes"]
            raw.update({k: out[k] for k in ("cam", "high_res_cam") if k in out})
        else:
            preds = self.classifier(x, training=False)
            resolved = select_classes(preds, classes)
        if "guided_cam" in self.heads:  # image-guided up-sampling of the low-res CAM, in the same graph
            from hrcam.ops.guided import guided_upsample

            raw["guided_cam"] = guided_upsample(x, raw["cam"])
        result = {
            "probabilities": tf.cast(preds, tf.float32),
            "class_index": tf.cast(resolved[:, 0], tf.int32),
        }
        for head in self.heads:
            maps = tf.cast(raw[head][:, 0], tf.float32)
            result[head] = ops.normalize_maps(resize_maps_to(maps, size))
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
        return signature_info(self)
