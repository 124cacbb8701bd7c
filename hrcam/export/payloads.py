"""What a client sends to an hrcam model in TF Serving and gets back: the signature and its input tensors,
from arrays or encoded image files, and TF Serving's JSON request / response bodies (REST)."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "make_inputs",
    "choose_signature",
    "read_image_bytes",
    "rest_request_body",
    "parse_rest_response",
    "ServingError",
    "FORMATS",
]

_FLOAT_SIGNATURES = ("serving_default", "explain")


# ----------------------------------------------------------------------------------------------------------
# Inputs


def read_image_bytes(item: Any, index: int) -> bytes:
    """The bytes of ``item`` (``bytes`` as they are, or a file path read); ``index`` names it in errors."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"`images`[{index}]: no file at {str(path)!r}")
        return path.read_bytes()
    raise TypeError(f"`images`[{index}] must be bytes or a file path, got {type(item).__name__}")


def _encode_png(images: np.ndarray) -> list[bytes]:
    """(B, H, W, C) uint8 -> B PNG files (lossless)."""
    import tensorflow as tf

    return [tf.io.encode_png(img).numpy() for img in images]


def make_inputs(
    images: Any, signature: str | None = None, class_index: Any = None
) -> tuple[str, dict[str, np.ndarray]]:
    """Turn what the caller has into a signature name and its named input arrays.

    Args:
        images: (B, H, W, C) uint8 or float32-in-[0, 1] array; or a sequence of encoded JPEG/PNG files
            (``bytes``) or file paths.
        signature: the signature to call; ``None`` = chosen by :func:`choose_signature`. Arrays sent to a
            float32 signature are converted (uint8 / 255); arrays sent to a ``*_bytes`` signature are
            PNG-encoded.
        class_index: ``None``, an int (every image) or B ints; -1 = the predicted class.

    Returns:
        ``(signature, {"images" or "image_bytes": array, ["class_index": int32 (B,)]})``.
    """
    if isinstance(images, (bytes, str, os.PathLike)):
        images = [images]
    is_files = (
        isinstance(images, Sequence)
        and not isinstance(images, np.ndarray)
        and len(images) > 0
        and all(isinstance(i, (bytes, bytearray, memoryview, str, os.PathLike)) for i in images)
    )
    if is_files:
        data = [read_image_bytes(item, i) for i, item in enumerate(images)]
        kind = "bytes"
    else:
        arr = np.asarray(images)
        if arr.ndim == 3:
            raise ValueError(
                f"`images` must be a batch (B, H, W, C), got shape {arr.shape} (add a batch axis)"
            )
        if arr.ndim != 4:
            raise ValueError(f"`images` must be (B, H, W, C) or a list of image files, got shape {arr.shape}")
        if arr.dtype == np.uint8:
            kind = "uint8"
        elif arr.dtype.kind == "f":
            kind = "float32"
            arr = arr.astype(np.float32)
        else:
            raise TypeError(f"`images` must be uint8 or float32 pixels, got dtype {arr.dtype}")
    batch = len(data) if is_files else arr.shape[0]
    if batch == 0:
        raise ValueError("`images` is empty: expected at least one image")
    if signature is None:
        signature = choose_signature(kind, class_index is not None)
    if not isinstance(signature, str) or not signature:
        raise ValueError(f"`signature` must be a signature name, got {signature!r}")
    inputs: dict[str, np.ndarray] = {}
    if signature.endswith("_bytes"):
        if not is_files:
            if kind == "float32":
                arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
            data = _encode_png(arr)
        inputs["image_bytes"] = np.array(data, dtype=object)
    else:
        if is_files:
            raise ValueError(
                f"signature {signature!r} takes pixel arrays; send image files to "
                "'serving_bytes'/'explain_bytes'"
            )
        if signature in _FLOAT_SIGNATURES and kind == "uint8":
            arr = arr.astype(np.float32) / 255.0
        elif signature.endswith("_uint8") and kind == "float32":
            raise ValueError(
                f"signature {signature!r} takes uint8 pixels, got float32; use 'serving_default'/'explain' "
                "for "
                "float32 images in [0, 1]"
            )
        inputs["images"] = arr
    if class_index is not None:
        cls = np.asarray(class_index)
        if cls.dtype.kind not in "iu":
            raise TypeError(f"`class_index` must hold ints, got dtype {cls.dtype}")
        if cls.ndim == 0:
            cls = np.full((batch,), int(cls))
        if cls.shape != (batch,):
            raise ValueError(
                f"`class_index` must be an int or {batch} ints (one per image), got shape {cls.shape}"
            )
        inputs["class_index"] = cls.astype(np.int32)
    elif signature.startswith("explain"):
        inputs["class_index"] = np.full((batch,), -1, np.int32)
    return signature, inputs


def choose_signature(kind: str, explain: bool = False) -> str:
    """The hrcam signature for inputs of ``kind`` (``"float32"``, ``"uint8"`` or ``"bytes"``)."""
    suffix = {"float32": "", "uint8": "_uint8", "bytes": "_bytes"}
    if kind not in suffix:
        raise ValueError(f"`kind` must be one of {list(suffix)}, got {kind!r}")
    if explain:
        return "explain" + suffix[kind]
    return "serving_default" if kind == "float32" else "serving" + suffix[kind]


# ----------------------------------------------------------------------------------------------------------
# REST bodies (TF Serving's JSON format) and the server's errors

FORMATS = ("row", "columnar")


class ServingError(RuntimeError):
    """The server rejected a request; ``str(e)`` is the server's message (e.g. an in-graph check's)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _json_value(value: Any) -> Any:
    """An array element (or nested list) as JSON: bytes -> {"b64": ...}."""
    if isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind == "S":
            return [_json_value(v) for v in value]
        return value.tolist()
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def rest_request_body(
    inputs: Mapping[str, Any],
    signature: str = "serving_default",
    format: str = "row",  # noqa: A002
) -> dict[str, Any]:
    """TF Serving's JSON request body for named, batched inputs.

    Args:
        inputs: ``{input name: array}``, every array with the batch on axis 0.
        signature: ``signature_name``.
        format: ``"row"`` (``instances``: one entry per image; a bare value when there is one input, an
            object ``{name: value}`` per image otherwise) or ``"columnar"`` (``inputs``: ``{name: batch}``).

    Returns:
        The body as a dict (``json.dumps`` it).
    """
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}, got {format!r}")
    if not inputs:
        raise ValueError("`inputs` is empty")
    arrays = {k: np.asarray(v) if not isinstance(v, np.ndarray) else v for k, v in inputs.items()}
    body: dict[str, Any] = {"signature_name": signature}
    if format == "columnar":
        body["inputs"] = {k: _json_value(v) for k, v in arrays.items()}
        return body
    sizes = {k: v.shape[0] if v.ndim else None for k, v in arrays.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise ValueError(f"row format needs every input batched with the same size, got {sizes}")
    n = next(iter(sizes.values()))
    if len(arrays) == 1:
        (value,) = arrays.values()
        body["instances"] = [_json_value(value[i]) for i in range(n)]
    else:
        body["instances"] = [{k: _json_value(v[i]) for k, v in arrays.items()} for i in range(n)]
    return body


def _from_json(value: Any) -> np.ndarray:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return np.array(base64.b64decode(value["b64"]), dtype=object)
    return np.asarray(value)


def _typed(arr: np.ndarray) -> np.ndarray:
    """JSON carries no dtypes: floats -> float32 and ints -> int32 (what hrcam's signatures return; exact for
    values that came from float32/int32 tensors)."""
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu" and (arr.size == 0 or (arr.min() >= -(2**31) and arr.max() < 2**31)):
        return arr.astype(np.int32)
    return arr


def parse_rest_response(
    body: Mapping[str, Any], output_names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """TF Serving's JSON response -> ``{output name: array}`` (batch on axis 0).

    Handles both ``{"predictions": [...]}`` (row) and ``{"outputs": ...}`` (columnar), including the bare
    forms TF Serving uses when a signature has one output (then ``output_names[0]`` or ``"output"`` names it).
    JSON numbers come back as float32 / int32 arrays.

    Raises:
        ServingError: the body is ``{"error": ...}``.
    """
    if "error" in body:
        raise ServingError(str(body["error"]))
    single = output_names[0] if output_names else "output"
    if "predictions" in body:
        preds = body["predictions"]
        if preds and isinstance(preds[0], dict) and set(preds[0]) != {"b64"}:
            return {k: _typed(np.asarray([_from_json(p[k]) for p in preds])) for k in preds[0]}
        return {single: _typed(np.asarray([_from_json(p) for p in preds]))}
    if "outputs" in body:
        outs = body["outputs"]
        if isinstance(outs, dict) and set(outs) != {"b64"}:
            return {k: _typed(np.asarray(v)) for k, v in outs.items()}
        return {single: _typed(np.asarray(outs))}
    raise ServingError(f"unexpected response from the server: keys {sorted(body)}")
