"""TF Serving warm-up records: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays these ``PredictionLog`` records when it loads a version, before it marks the version as
available, so the first real request does not pay for lazy initialisation (memory pools, cuDNN autotuning,
graph optimisation). Built with ``tensorflow-serving-api`` (the ``hrcam[serving]`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["WARMUP_FILE", "warmup_inputs", "write_warmup_requests", "read_warmup_requests", "serving_api"]

#: where TF Serving looks for warm-up records, relative to the version directory
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def serving_api() -> Any:
    """Import ``tensorflow_serving.apis`` or explain how to get it."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "warm-up records need tensorflow-serving-api: `pip install 'hrcam[serving]'` "
            "(or export with warmup=False / --no-warmup)"
        ) from e
    return model_pb2, predict_pb2, prediction_log_pb2


def _pattern(batch: int, height: int, width: int, channels: int) -> np.ndarray:
    """A deterministic uint8 test pattern (B, H, W, C): gradients and a checkerboard, so decoders and maps
    see real structure (not a constant image)."""
    yy, xx = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    checker = ((np.arange(height)[:, None] // 8 + np.arange(width)[None, :] // 8) % 2).astype(np.float64)
    base = [yy, xx, checker, 1 - yy]
    img = np.stack([base[c % len(base)] for c in range(channels)], axis=-1)
    imgs = np.stack([np.roll(img, shift=7 * b, axis=1) for b in range(batch)])
    return np.round(imgs * 255).astype(np.uint8)


def warmup_inputs(
    signature: str, batch: int, image_size: tuple[int, int], channels: int
) -> dict[str, np.ndarray]:
    """The inputs of one warm-up request for ``signature`` at ``image_size`` (H, W).

    Returns:
        ``{input name: array}``: ``images`` float32 [0, 1] or uint8, ``image_bytes`` (B,) PNG bytes
        (object array), ``class_index`` int32 (B,) of -1 (the predicted class).
    """
    h, w = (int(s) for s in image_size)
    pixels = _pattern(batch, h, w, channels)
    inputs: dict[str, np.ndarray] = {}
    if signature.endswith("_bytes"):
        import tensorflow as tf

        inputs["image_bytes"] = np.array([tf.io.encode_png(p).numpy() for p in pixels], dtype=object)
    elif signature.endswith("_uint8"):
        inputs["images"] = pixels
    else:
        inputs["images"] = pixels.astype(np.float32) / 255.0
    if signature.startswith("explain"):
        inputs["class_index"] = np.full((batch,), -1, np.int32)
    return inputs


def write_warmup_requests(
    path: str | os.PathLike,
    model_name: str,
    signatures: Sequence[str],
    image_size: tuple[int, int],
    channels: int,
    batch_sizes: Sequence[int] = (1,),
) -> Path:
    """Write one ``PredictionLog`` per signature and batch size to the TFRecord file ``path``.

    Args:
        path: the version directory's ``assets.extra/tf_serving_warmup_requests``.
        model_name: the served model's name (``ModelSpec.name``).
        signatures: signature names to warm up.
        image_size: (H, W) of the warm-up images (the model's input size).
        channels: image channels.
        batch_sizes: batch sizes to warm up (TF Serving replays at most 1000 records).

    Returns:
        ``path``.
    """
    import tensorflow as tf

    model_pb2, predict_pb2, prediction_log_pb2 = serving_api()
    batch_sizes = [int(b) for b in batch_sizes]
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"`batch_sizes` must be positive ints, got {batch_sizes}")
    if len(signatures) * len(batch_sizes) > 1000:
        raise ValueError("TF Serving replays at most 1000 warm-up records; use fewer batch sizes")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in batch_sizes:
            for signature in signatures:
                request = predict_pb2.PredictRequest(
                    model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
                )
                for key, value in warmup_inputs(signature, batch, image_size, channels).items():
                    dtype = tf.string if value.dtype == object else None
                    request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
                log = prediction_log_pb2.PredictionLog(
                    predict_log=prediction_log_pb2.PredictLog(request=request)
                )
                writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path: str | os.PathLike) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Parse a warm-up file: ``[(signature name, {input name: array}), ...]`` in file order.

    Raises:
        ValueError: a record is not a ``PredictionLog`` holding a ``PredictRequest``.
    """
    import tensorflow as tf

    _, _, prediction_log_pb2 = serving_api()
    requests = []
    for i, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(raw)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"warm-up record {i} of {path} is not a predict_log")
        req = log.predict_log.request
        requests.append(
            (
                req.model_spec.signature_name or "serving_default",
                {k: tf.make_ndarray(v) for k, v in req.inputs.items()},
            )
        )
    return requests
