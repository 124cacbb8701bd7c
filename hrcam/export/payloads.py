"""What a client sends to an hrcam model in TF Serving: the signature and its input tensors, from arrays or
encoded image files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_inputs", "choose_signature", "read_image_bytes"]

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
