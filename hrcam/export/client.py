"""Clients for an hrcam model served by TF Serving: REST (JSON) and gRPC (``PredictRequest``).

    >>> from hrcam.export.client import predict, predict_grpc
    >>> out = predict("http://localhost:8501", images, model_name="hrcam")     # REST, port 8501
    >>> out["probabilities"].shape, out["cam"].shape                         # (B, C), (B, H, W)
    >>> out = predict_grpc("localhost:8500", "hrcam", images)                 # gRPC, port 8500

The signature follows from what is sent (unless ``signature`` is given): float32 arrays in [0, 1] go to
``serving_default``, uint8 arrays to ``serving_uint8``, encoded JPEG/PNG files (``bytes`` or paths) to
``serving_bytes``; with ``class_index`` the ``explain`` variants are used.

The REST request body follows TF Serving's documented format (https://www.tensorflow.org/tfx/serving/api_rest):
row format ``{"signature_name": ..., "instances": [...]}`` (one entry per image; an object per image when
there are several inputs) or columnar format ``{"signature_name": ..., "inputs": {name: batch}}``; binary
strings are sent as ``{"b64": "<base64>"}``. Only the Python standard library is used for REST; gRPC needs
``tensorflow-serving-api`` and ``grpcio`` (the ``hrcam[serving]`` extra).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ServingError",
    "make_inputs",
    "choose_signature",
    "rest_request_body",
    "parse_rest_response",
    "predict_url",
    "predict",
    "build_predict_request",
    "predict_grpc",
    "explain_from_server",
]

FORMATS = ("row", "columnar")
_FLOAT_SIGNATURES = ("serving_default", "explain")
_MAP_OUTPUTS = ("cam", "high_res_cam", "gradcam")


class ServingError(RuntimeError):
    """The server rejected a request; ``str(e)`` is the server's message (e.g. an in-graph check's)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------------------------------------
# Inputs


def _read_bytes(item: Any, index: int) -> bytes:
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
        data = [_read_bytes(item, i) for i, item in enumerate(images)]
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
# REST


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


def predict_url(url: str, model_name: str | None = None, version: int | None = None) -> str:
    """The ``:predict`` URL: ``url`` itself when it ends in ``:predict``, else
    ``url/v1/models/NAME[/versions/V]:predict``."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"`url` must be an http(s) URL such as 'http://localhost:8501', got {url!r}")
    if url.endswith(":predict"):
        return url
    if not model_name:
        raise ValueError(
            f"`model_name` is needed with a server URL ({url!r}); or pass the full ':predict' URL"
        )
    path = f"/v1/models/{model_name}" + (f"/versions/{int(version)}" if version is not None else "")
    return url.rstrip("/") + path + ":predict"


def _post_json(url: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (caller's URL)
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            message = json.loads(text).get("error", text)
        except (json.JSONDecodeError, AttributeError):
            message = text
        raise ServingError(f"HTTP {e.code} from {url}: {message}", status=e.code) from None


def predict(
    url: str,
    images: Any,
    signature: str | None = None,
    *,
    model_name: str | None = None,
    version: int | None = None,
    class_index: Any = None,
    format: str = "row",  # noqa: A002
    timeout: float = 60.0,
) -> dict[str, np.ndarray]:
    """Call an hrcam model on TF Serving's REST API.

    Args:
        url: the server (``http://host:8501``, with ``model_name``) or the full ``...:predict`` URL.
        images: (B, H, W, C) uint8 or float32 [0, 1] array, or a list of JPEG/PNG files (bytes or paths).
        signature: ``None`` = from the inputs (see :func:`make_inputs`).
        model_name, version: the served model (``version=None``: the latest).
        class_index: ``None`` (maps of the top class) or an int / B ints (uses the ``explain`` signatures).
        format: ``"row"`` (``instances``) or ``"columnar"`` (``inputs``).
        timeout: seconds.

    Returns:
        ``{output name: array}``: e.g. ``probabilities`` (B, C), ``classes``/``scores`` (B, k), maps
        (B, H, W).

    Raises:
        ServingError: the server rejected the request (its message says why).
    """
    signature, inputs = make_inputs(images, signature, class_index)
    body = rest_request_body(inputs, signature, format)
    return parse_rest_response(_post_json(predict_url(url, model_name, version), body, timeout))


# ----------------------------------------------------------------------------------------------------------
# gRPC


def build_predict_request(
    model_name: str,
    inputs: Mapping[str, np.ndarray],
    signature: str = "serving_default",
    version: int | None = None,
) -> Any:
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for named, batched inputs."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in inputs.items():
        value = np.asarray(value)
        dtype = tf.string if value.dtype == object or value.dtype.kind == "S" else None
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    return request


def predict_grpc(
    target: str,
    model_name: str,
    images: Any,
    signature: str | None = None,
    *,
    version: int | None = None,
    class_index: Any = None,
    timeout: float = 60.0,
    max_message_mb: int = 256,
) -> dict[str, np.ndarray]:
    """Call an hrcam model on TF Serving's gRPC API (``PredictionService/Predict``).

    Args:
        target: ``host:port`` of the gRPC endpoint (TF Serving's default port is 8500).
        model_name, images, signature, version, class_index: as in :func:`predict`.
        timeout: seconds.
        max_message_mb: gRPC message size limit for requests and responses (maps are large).

    Raises:
        ServingError: the server rejected the request (``status`` holds the gRPC status code name).
        ImportError: ``grpcio``/``tensorflow-serving-api`` are missing (``pip install 'hrcam[serving]'``).
    """
    try:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("gRPC needs grpcio and tensorflow-serving-api: pip install 'hrcam[serving]'") from e
    import tensorflow as tf

    signature, inputs = make_inputs(images, signature, class_index)
    request = build_predict_request(model_name, inputs, signature, version)
    limit = int(max_message_mb) * 1024 * 1024
    options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            code = e.code().name if hasattr(e, "code") and e.code() is not None else None
            details = e.details() if hasattr(e, "details") else str(e)
            raise ServingError(f"gRPC {code} from {target}: {details}", status=None) from None
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


# ----------------------------------------------------------------------------------------------------------
# Overlays from a running server


def explain_from_server(
    url: str,
    model_name: str,
    image_paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    signature: str = "serving_bytes",
    protocol: str = "rest",
    *,
    class_index: int | None = None,
    version: int | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Send image files to a served hrcam model and write one overlay PNG per image and map.

    Each file is sent in its own request (images of different sizes cannot share one batch); the maps come
    back at the file's size and are drawn over it.

    Args:
        url: REST server (``http://host:8501``) or, with ``protocol="grpc"``, ``host:8500``.
        model_name: the served model's name.
        image_paths: JPEG/PNG files.
        out_dir: where ``<stem>_<map>.png`` and ``predictions.json`` go (created if needed).
        signature: ``serving_bytes`` (files sent as they are), ``serving_uint8`` or ``serving_default``
            (decoded here and sent as pixels); with ``class_index`` the matching ``explain`` signature is
            used.
        protocol: ``"rest"`` or ``"grpc"``.
        class_index: the class to explain in every image (``None``: each image's top class).
        version: the model version (``None``: the latest).
        alpha: heat-map opacity in the overlays.
        cmap: matplotlib colormap of the heat map.
        timeout: seconds per request.

    Returns:
        ``{"files": [written PNG paths], "predictions": [{"image", "classes", "scores" or "class_index",
        "maps"}, ...]}``; the same is written to ``out_dir/predictions.json``.
    """
    import tensorflow as tf

    from hrcam.io import atomic_path, write_json
    from hrcam.plotting.overlays import overlay

    if protocol not in ("rest", "grpc"):
        raise ValueError(f"`protocol` must be 'rest' or 'grpc', got {protocol!r}")
    kinds = {"serving_bytes": "bytes", "serving_uint8": "uint8", "serving_default": "float32"}
    if signature not in kinds:
        raise ValueError(f"`signature` must be one of {sorted(kinds)}, got {signature!r}")
    if isinstance(image_paths, (str, os.PathLike)):
        image_paths = [image_paths]
    if not image_paths:
        raise ValueError("`image_paths` is empty: expected at least one image file")
    out_dir = Path(out_dir)
    sig = choose_signature(kinds[signature], explain=class_index is not None)
    written: list[Path] = []
    records = []
    for i, p in enumerate(image_paths):
        data = _read_bytes(p, i)
        pixels = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
        payload: Any = [data] if kinds[signature] == "bytes" else pixels[None]
        if protocol == "rest":
            out = predict(
                url,
                payload,
                sig,
                model_name=model_name,
                version=version,
                class_index=class_index,
                timeout=timeout,
            )
        else:
            out = predict_grpc(
                url, model_name, payload, sig, version=version, class_index=class_index, timeout=timeout
            )
        stem = Path(p).stem
        record: dict[str, Any] = {"image": str(p), "maps": []}
        for key in ("classes", "scores", "class_index"):
            if key in out:
                record[key] = np.asarray(out[key])[0].tolist()
        for head in _MAP_OUTPUTS:
            if head not in out:
                continue
            target = out_dir / f"{stem}_{head}.png"
            rgb = overlay(pixels, np.asarray(out[head])[0], alpha=alpha, cmap=cmap)
            _write_png(rgb, target, atomic_path)
            written.append(target)
            record["maps"].append(str(target))
        records.append(record)
    write_json(
        out_dir / "predictions.json", {"model_name": model_name, "signature": sig, "predictions": records}
    )
    return {"files": written, "predictions": records}


def _write_png(rgb: np.ndarray, path: Path, atomic_path: Any) -> None:
    from PIL import Image

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
