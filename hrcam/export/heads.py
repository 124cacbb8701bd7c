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

Heads (all computed in the same graph as the probabilities): any traceable map source of
:mod:`hrcam.sources`, named as there (options as ``NAME:key=value``), each output under its canonical name:

* ``cam``, ``high_res_cam``, ``gradcam``, ``guided_cam`` of a HalfModel / FullModel come from one forward
  pass through the network: with Grad-CAM, the public saliency core's ``GradCAM.compute(images, classes,
  capture=(...))`` runs it and captures the CAM and high-resolution activations on the way; then one backward
  pass from the class score to Grad-CAM's layer only (``conv_aux`` for hrcam models);
* every other source (``gradcam_plus_plus``, ``layercam``, ``casm:masker=M.keras``,
  ``explainer:model=E.keras``, ``center``, ...; ``cam`` of a plain GAP + Dense Keras classifier) through its
  own ``compute``, in the same graph. A source that runs NumPy code (``refined``) cannot be a head.
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
from hrcam.export.head_specs import DEFAULT_HEADS, FUSED_HEADS, check_keras_classifier
from hrcam.export.requests import (
    check_class_index,
    images_from_bytes,
    images_from_float,
    images_from_uint8,
    resize_maps_to,
)
from hrcam.highres.layers import LAYERS
from hrcam.ops import select_classes

__all__ = ["HEADS", "SIGNATURES", "ServingHeads", "load_classifier"]

HEADS = FUSED_HEADS  # the heads of one forward pass; any other traceable map source is a head too
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
        heads: map outputs: map sources of :mod:`hrcam.sources` (a list or a comma-separated string;
            ``"none"`` = no heads); ``None`` = the defaults (HalfModel: cam, gradcam; FullModel: cam,
            high_res_cam, gradcam; Keras classifier: gradcam); ``()`` = none (a bare classifier:
            probabilities and top-k only).
        top_k: how many classes ``classes``/``scores`` list (capped at the number of classes).
        gradcam_layer: Grad-CAM's layer (name or layer); ``None`` = hrcam's CAM layer ``conv_aux`` for hrcam
            models, else the last 4-D layer.

    Raises:
        ValueError: unknown heads, heads the model cannot give or that are not traceable, a model that is
            not a single-input single-output classifier, ``top_k < 1``.
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
            self.classifier = check_keras_classifier(model)
        self.keras_model = model.model if self.wrapper is not None else model
        self.input_shape: tuple[int | None, int | None, int] = tuple(
            None if d is None else int(d) for d in self.classifier.inputs[0].shape[1:]
        )
        self.channels = int(self.input_shape[-1])
        self.num_classes = int(self.classifier.outputs[0].shape[-1])
        self.sources: dict[str, Any] = {}  # head -> its map source (heads outside the one-pass set)
        self._scaled: dict[str, bool] = {}
        self.heads = self._check_heads(DEFAULT_HEADS[self.kind] if heads is None else heads)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"`top_k` must be a positive int, got {top_k!r}")
        self.top_k = min(int(top_k), self.num_classes)
        self.gradcam = None
        self.capture: dict[str, str] = {}  # head -> the layer whose activations it needs
        if "gradcam" in self.heads and "gradcam" not in self.sources:
            if gradcam_layer is None and self.kind != "keras":
                gradcam_layer = LAYERS.cam_features
            self.gradcam, self.capture = self._gradcam_head(gradcam_layer)
        elif gradcam_layer is not None:
            raise ValueError("`gradcam_layer` was given but the 'gradcam' head is not exported")
        # Every signature calls this one function: it is traced once (not once per signature), and the
        # SavedModel holds one copy of the network's graph.
        self.compiled = tf.function(
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
            capture["cam"] = LAYERS.cam_features
        if "high_res_cam" in self.heads:
            high_res = self.wrapper.cam_model.outputs[0]  # (B, H, W, K), beyond the classifier's graph
            model = keras.Model(self.classifier.inputs, [self.classifier.outputs[0], high_res])
            capture["high_res_cam"] = producer(high_res)[0].name
        return GradCAM(model, layer=layer, normalize=False, upsample=False, output=0), capture

    # -- validation ---------------------------------------------------------------------------------
    def _check_heads(self, heads: Sequence[str] | str) -> tuple[str, ...]:
        """Canonical head names (the one-pass heads first, in :data:`FUSED_HEADS` order); fills
        :attr:`sources` with the others' map sources."""
        from hrcam import sources
        from hrcam.saliency.names import canonical

        if isinstance(heads, str) and heads.strip().lower() in ("", "none"):
            return ()
        specs, fused = sources.split_specs(heads), []
        for spec in specs:
            try:
                name, options = sources.parse(spec)
                key, preset = canonical(name)
            except ValueError as err:
                raise ValueError(f"`heads` has unknown head {spec!r}: {err}") from None
            if key in fused or key in self.sources:
                raise ValueError(f"`heads` lists a head twice: {specs}")
            if key == "high_res_cam" and self.kind == "half":
                raise ValueError(
                    "`heads` ['high_res_cam'] cannot be exported for a HalfModel "
                    "(high_res_cam needs a FullModel)"
                )
            if key in FUSED_HEADS and (self.kind != "keras" or key == "gradcam") and not (options or preset):
                fused.append(key)
                continue
            source = sources.get(spec, self.wrapper or self.classifier, upsample=False, batch_size=1)
            if not source.traceable:
                raise ValueError(
                    f"`heads`: {key!r} cannot be a serving head: {type(source).__name__} runs NumPy code, "
                    "not a TensorFlow graph (score or extract it instead)"
                )
            # resized to the request, then min-max scaled (as the one-pass heads) if the source scales
            self._scaled[key], source.normalize = source.normalize, False
            self.sources[key] = source
        return tuple(h for h in FUSED_HEADS if h in fused) + tuple(self.sources)

    # -- the computation ----------------------------------------------------------------------------
    def _to_model_size(self, images: tf.Tensor) -> tf.Tensor:
        """Resize to the model's (H, W) when the request differs (:func:`hrcam.ops.resize_images`, as the
        Python API); a model that takes any size gets the request as it is."""
        h, w, _ = self.input_shape
        return images if h is None or w is None else ops.resize_images(images, (h, w))

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
        elif {"cam", "high_res_cam", "guided_cam"} & set(self.heads) - set(self.sources):
            source = self.wrapper if "high_res_cam" in self.heads else self.half
            out = source.maps_fn(x, classes)
            preds, resolved = out["probabilities"], out["classes"]
            raw.update({k: out[k] for k in ("cam", "high_res_cam") if k in out})
        else:
            preds = self.classifier(x, training=False)
            resolved = select_classes(preds, classes)
        for head, source in self.sources.items():  # the model's classes; maps scaled as the source defines
            raw[head] = source.compute(x, resolved).maps
        if "guided_cam" in self.heads and "guided_cam" not in self.sources:
            from hrcam.ops.guided import guided_upsample  # the low-res CAM up-sampled with the image as guide

            raw["guided_cam"] = guided_upsample(x, raw["cam"])
        result = {
            "probabilities": tf.cast(preds, tf.float32),
            "class_index": tf.cast(resolved[:, 0], tf.int32),
        }
        for head in self.heads:
            maps = resize_maps_to(tf.cast(raw[head][:, 0], tf.float32), size)
            result[head] = ops.normalize_maps(maps) if self._scaled.get(head, True) else maps
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
        return self._top(self.compiled(x, tf.fill([tf.shape(x)[0], 1], -1)))

    def serving_default(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predicted(images_from_float(images, self.channels))

    def serving_uint8(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predicted(images_from_uint8(images, self.channels))

    def serving_bytes(self, image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predicted(images_from_bytes(image_bytes, self.channels))

    def _explain(self, x: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
        classes = check_class_index(class_index, tf.shape(x)[0], self.num_classes)
        return self._explained(self.compiled(x, classes))

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
