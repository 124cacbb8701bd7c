"""What an hrcam SavedModel's signatures take and return, for README.txt and hrcam_export.json."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["TensorInfo", "SignatureInfo", "signature_info"]


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


def signature_info(heads: Any) -> dict[str, SignatureInfo]:
    """What each signature of ``heads`` (a :class:`~hrcam.export.heads.ServingHeads`) takes and returns (for
    README.txt and hrcam_export.json)."""
    h, w, c = heads.input_shape
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
            'encoded JPEG or PNG files (REST: {"b64": "..."}); all of one request must have the same size',
        ),
    }
    class_index = TensorInfo(
        "class_index",
        "int32",
        "(B,)",
        f"class to explain per image, in [0, {heads.num_classes - 1}]; -1 = the predicted class",
    )
    from hrcam.sources import info

    maps = {
        "cam": "low-resolution CAM (up-sampled)",
        "high_res_cam": "high-resolution CAM (HR-CAM)",
        "gradcam": f"Grad-CAM (layer {heads.gradcam.layer_name!r})" if heads.gradcam is not None else "",
    }
    for head in heads.heads:
        if not maps.get(head):
            maps[head] = f"{head} map ({info(head).seed})"
    probs = TensorInfo("probabilities", "float32", f"(B, {heads.num_classes})", "class probabilities")
    top = (
        TensorInfo("classes", "int32", f"(B, {heads.top_k})", f"top-{heads.top_k} class indices, best first"),
        TensorInfo("scores", "float32", f"(B, {heads.top_k})", "their probabilities"),
    )

    def map_info(which: str) -> tuple[TensorInfo, ...]:
        return tuple(
            TensorInfo(
                head,
                "float32",
                "(B, H, W)",
                f"{maps[head]} of {which}, in [0, 1]",
            )
            for head in heads.heads
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
    return {name: infos[name] for name in heads.signature_names()}
