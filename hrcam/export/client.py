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
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hrcam.export.payloads import choose_signature, make_inputs

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


class ServingError(RuntimeError):
    """The server rejected a request; ``str(e)`` is the server's message (e.g. an in-graph check's)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


# The server-overlay writer lives with the other overlays' writer; re-exported here.
from hrcam.export.server_overlays import explain_from_server  # noqa: E402
