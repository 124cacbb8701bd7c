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

import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.export.payloads import (
    ServingError,
    choose_signature,
    make_inputs,
    parse_rest_response,
    rest_request_body,
)

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
    "MAP_OUTPUTS",
]


# ----------------------------------------------------------------------------------------------------------
# REST


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
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            message = json.loads(text).get("error", text)
        except (json.JSONDecodeError, AttributeError):
            message = text
        raise ServingError(f"HTTP {e.code} from {url}: {message}", status=e.code) from None
    except TimeoutError:
        raise ServingError(f"no answer from {url} within {timeout:g} s") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise ServingError(f"cannot reach {url}: {reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ServingError(f"{url} did not answer with JSON: {text[:200]!r}") from None


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
# Overlays from a running server (written as the local ``hrcam explain`` writes them)

MAP_OUTPUTS = ("cam", "high_res_cam", "gradcam")


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
    cmap: str | None = None,
    timeout: float = 60.0,
    on_bad_image: str = "fail",
) -> dict[str, Any]:
    """Send image files to a served hrcam model and write one overlay PNG per image and map.

    Each file is sent in its own request (images of different sizes cannot share one batch); the maps come
    back at the file's size and are drawn over it.

    Args:
        url: REST server (``http://host:8501``) or, with ``protocol="grpc"``, ``host:8500``.
        model_name: the served model's name.
        image_paths: JPEG/PNG files.
        out_dir: where ``<stem>_<map>.png`` and ``predictions.json`` go (created if needed); stems are
            de-duplicated as in the local ``hrcam explain`` (``a/x.jpg, b/x.jpg -> x, x-1``).
        signature: ``serving_bytes`` (files sent as they are), ``serving_uint8`` or ``serving_default``
            (decoded here and sent as pixels); with ``class_index`` the matching ``explain`` signature is
            used.
        protocol: ``"rest"`` or ``"grpc"``.
        class_index: the class to explain in every image (``None``: each image's top class).
        version: the model version (``None``: the latest).
        alpha: heat-map opacity in the overlays.
        cmap: matplotlib colormap of the heat map (None: :data:`hrcam.plotting.colors.DEFAULT_CMAP`).
        timeout: seconds per request.
        on_bad_image: a file that is missing or cannot be decoded: ``"fail"`` (a ``ValueError`` /
            ``FileNotFoundError`` naming it, before anything is sent) or ``"skip"`` (left out, listed).

    Returns:
        ``{"files": [written PNG paths], "predictions": [{"image", "classes", "scores" or "class_index",
        "maps"}, ...], "skipped": {path: why}}``; the same is written to ``out_dir/predictions.json``.

    Raises:
        ServingError: the server cannot be reached or refuses a request (the message names the URL).
    """
    import tensorflow as tf

    from hrcam.export.payloads import read_image_bytes
    from hrcam.io import write_json
    from hrcam.plotting.colors import DEFAULT_CMAP
    from hrcam.plotting.overlays import unique_stems, write_overlays

    if protocol not in ("rest", "grpc"):
        raise ValueError(f"`protocol` must be 'rest' or 'grpc', got {protocol!r}")
    kinds = {"serving_bytes": "bytes", "serving_uint8": "uint8", "serving_default": "float32"}
    if signature not in kinds:
        raise ValueError(f"`signature` must be one of {sorted(kinds)}, got {signature!r}")
    if isinstance(image_paths, (str, os.PathLike)):
        image_paths = [image_paths]
    if not image_paths:
        raise ValueError("`image_paths` is empty: expected at least one image file")
    if on_bad_image not in ("fail", "skip"):
        raise ValueError(f"`on_bad_image` must be 'fail' or 'skip', got {on_bad_image!r}")
    out_dir = Path(out_dir)
    sig = choose_signature(kinds[signature], explain=class_index is not None)
    written: list[Path] = []
    records = []
    decoded, skipped = [], {}
    for i, p in enumerate(image_paths):  # every file read and decoded before the first request
        try:
            data = read_image_bytes(p, i)
            pixels = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
        except (FileNotFoundError, tf.errors.OpError) as e:
            why = e.message.splitlines()[0] if isinstance(e, tf.errors.OpError) else "does not exist"
            if on_bad_image == "fail" and isinstance(e, FileNotFoundError):
                raise
            if on_bad_image == "fail":
                raise ValueError(f"image file {str(p)!r} cannot be decoded: {why}") from None
            skipped[str(p)] = why
            continue
        decoded.append((p, data, pixels))
    stems = unique_stems([p for p, _, _ in decoded])
    for i, (p, data, pixels) in enumerate(decoded):
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
        record: dict[str, Any] = {"image": str(p), "maps": []}
        for key in ("classes", "scores", "class_index"):
            if key in out:
                record[key] = np.asarray(out[key])[0].tolist()
        maps = {head: np.asarray(out[head])[0] for head in MAP_OUTPUTS if head in out}
        files = write_overlays([(stems[i], pixels, maps)], out_dir, alpha=alpha, cmap=cmap or DEFAULT_CMAP)
        written.extend(files)
        record["maps"] = [str(f) for f in files]
        records.append(record)
    write_json(
        out_dir / "predictions.json",
        {"model_name": model_name, "signature": sig, "predictions": records, "skipped": skipped},
    )
    return {"files": written, "predictions": records, "skipped": skipped}
