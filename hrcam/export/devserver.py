"""A development stand-in for TF Serving: one exported model over REST and gRPC, on the loopback interface.

For trying the client and ``hrcam explain --server`` where no ``tensorflow_model_server`` is installed,
and for tests. It implements the parts of TF Serving's APIs that hrcam's clients use, in TF Serving's
formats:

* REST: ``POST /v1/models/NAME[/versions/V]:predict`` with a row (``instances``) or columnar (``inputs``)
  JSON body (binary strings as ``{"b64": ...}``), answering ``{"predictions": ...}`` / ``{"outputs": ...}``
  or ``{"error": "..."}`` with HTTP 400; ``GET /v1/models/NAME`` (status) and
  ``GET /v1/models/NAME/metadata``.
* gRPC: ``tensorflow.serving.PredictionService/Predict`` (needs ``grpcio`` and ``tensorflow-serving-api``).

It is not a production server (no batching, one request at a time).
Use TF Serving for that (README.md, "Serving").
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DevServer", "resolve_version_dir", "MAX_REQUEST_BYTES"]

#: The largest REST request body accepted (TF Serving's default gRPC limit is 4 MiB; REST bodies are larger).
MAX_REQUEST_BYTES = 256 * 1024 * 1024

_PREDICT = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?:predict$")
_STATUS = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?(?P<meta>/metadata)?$")


def resolve_version_dir(path: str | os.PathLike) -> tuple[Path, int]:
    """``BASE/NAME`` (its latest version) or ``BASE/NAME/V`` -> (version directory, version)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path, int(path.name) if path.name.isdigit() else 1
    versions = (
        sorted(int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit())
        if path.is_dir()
        else []
    )
    if not versions:
        raise FileNotFoundError(f"no SavedModel version under {str(path)!r} (expected BASE/NAME/<version>/)")
    return path / str(versions[-1]), versions[-1]


class _BadRequest(Exception):
    pass


class DevServer:
    """Serve one SavedModel version under ``model_name`` on 127.0.0.1.

    Args:
        path: ``BASE/NAME`` (the latest version is served) or a version directory.
        model_name: the name in the URLs; default: ``NAME`` (the parent of the version directory).
        host: interface to bind; loopback only unless you really mean otherwise.
        rest_port: REST port (0: any free port; see :attr:`rest_url`).
        grpc_port: gRPC port (0: any free port), or ``None`` for no gRPC endpoint.

    Use as a context manager:
    ``with DevServer("serving/hrcam") as s: predict(s.rest_url, x, model_name="hrcam")``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model_name: str | None = None,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        grpc_port: int | None = None,
    ) -> None:
        import tensorflow as tf

        self.version_dir, self.version = resolve_version_dir(path)
        self.model_name = model_name or self.version_dir.parent.name
        self._tf = tf
        self._loaded = tf.saved_model.load(str(self.version_dir))
        self.signatures = dict(self._loaded.signatures)
        self._lock = threading.Lock()
        self.host = host
        self._http = ThreadingHTTPServer((host, int(rest_port)), self._handler_class())
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="hrcam-devserver", daemon=True
        )
        self._grpc = None
        self.grpc_port: int | None = None
        if grpc_port is not None:
            self._start_grpc(int(grpc_port))
        self._http_thread.start()

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        """``http://host:port`` of the REST endpoint."""
        return f"http://{self.host}:{self._http.server_address[1]}"

    @property
    def grpc_target(self) -> str | None:
        return f"{self.host}:{self.grpc_port}" if self.grpc_port is not None else None

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=None)

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the model ----------------------------------------------------------------------------------
    def _input_specs(self, signature: str) -> dict[str, Any]:
        fn = self.signatures.get(signature)
        if fn is None:
            raise _BadRequest(
                f'Serving signature name: "{signature}" not found in signature def; available: '
                f"{sorted(self.signatures)}"
            )
        return fn.structured_input_signature[1]

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``signature`` on named NumPy inputs (raises ``_BadRequest`` with TF's message on failure)."""
        tf = self._tf
        specs = self._input_specs(signature)
        missing = sorted(set(specs) - set(inputs))
        extra = sorted(set(inputs) - set(specs))
        if missing or extra:
            raise _BadRequest(
                f"signature {signature!r} takes inputs {sorted(specs)}; missing {missing}, unknown {extra}"
            )
        tensors = {}
        for key, spec in specs.items():
            try:
                tensors[key] = tf.constant(inputs[key], dtype=spec.dtype)
            except (TypeError, ValueError) as e:
                raise _BadRequest(f"input {key!r} cannot be converted to {spec.dtype.name}: {e}") from None
        try:
            with self._lock:
                out = self.signatures[signature](**tensors)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError, TypeError, ValueError) as e:
            raise _BadRequest(getattr(e, "message", None) or str(e)) from None
        return {k: v.numpy() for k, v in out.items()}

    def metadata(self) -> dict[str, Any]:
        sigs = {}
        for name, fn in self.signatures.items():
            sigs[name] = {
                "inputs": {
                    k: {"dtype": s.dtype.name, "name": k} for k, s in fn.structured_input_signature[1].items()
                },
                "outputs": {k: {"dtype": s.dtype.name, "name": k} for k, s in fn.structured_outputs.items()},
                "methodName": "tensorflow/serving/predict",
            }
        return {
            "model_spec": {"name": self.model_name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": sigs}},
        }

    # -- REST ---------------------------------------------------------------------------------------
    def _decode_rest(self, body: Any) -> tuple[str, dict[str, np.ndarray], str]:
        if not isinstance(body, dict):
            raise _BadRequest("JSON Value is not an object")
        signature = body.get("signature_name", "serving_default")
        if ("instances" in body) == ("inputs" in body):
            raise _BadRequest("Missing 'instances' or 'inputs' key (exactly one of them is required)")
        specs = self._input_specs(signature)
        names = sorted(specs)

        def value(v: Any) -> Any:
            if isinstance(v, dict):
                if set(v) != {"b64"}:
                    raise _BadRequest(f'JSON object {sorted(v)} is not a {{"b64": ...}} binary value')
                return base64.b64decode(v["b64"])
            if isinstance(v, list):
                return [value(x) for x in v]
            return v

        def array(v: Any, key: str) -> np.ndarray:
            v = value(v)
            if specs[key].dtype == self._tf.string:
                return np.array(v, dtype=object)
            return np.asarray(v)

        if "instances" in body:
            instances = body["instances"]
            if not isinstance(instances, list) or not instances:
                raise _BadRequest("'instances' must be a non-empty list")
            named = isinstance(instances[0], dict) and set(instances[0]) != {"b64"}
            if named:
                if any(not isinstance(i, dict) or set(i) != set(instances[0]) for i in instances):
                    raise _BadRequest("every instance must be an object with the same keys")
                inputs = {k: array([i[k] for i in instances], k) for k in instances[0]}
            else:
                if len(names) != 1:
                    raise _BadRequest(
                        f"signature {signature!r} has inputs {names}: instances must be objects"
                    )
                inputs = {names[0]: array(instances, names[0])}
            return signature, inputs, "row"
        columns = body["inputs"]
        if isinstance(columns, dict) and set(columns) != {"b64"}:
            inputs = {k: array(v, k) for k, v in columns.items()}
        else:
            if len(names) != 1:
                raise _BadRequest(f"signature {signature!r} has inputs {names}: 'inputs' must be an object")
            inputs = {names[0]: array(columns, names[0])}
        return signature, inputs, "columnar"

    @staticmethod
    def _to_json(a: np.ndarray) -> Any:
        if a.dtype == object or a.dtype.kind == "S":
            return [
                DevServer._to_json(x) if isinstance(x, np.ndarray) else {"b64": base64.b64encode(x).decode()}
                for x in a
            ]
        return a.tolist()

    def _encode_rest(self, out: dict[str, np.ndarray], fmt: str) -> dict[str, Any]:
        if fmt == "columnar":
            if len(out) == 1:
                return {"outputs": self._to_json(next(iter(out.values())))}
            return {"outputs": {k: self._to_json(v) for k, v in out.items()}}
        n = next(iter(out.values())).shape[0]
        if len(out) == 1:
            (v,) = out.values()
            return {"predictions": self._to_json(v)}
        return {
            "predictions": [{k: self._to_json(v[i : i + 1])[0] for k, v in out.items()} for i in range(n)]
        }

    def _handler_class(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _check_model(self, name: str, version: str | None) -> bool:
                if name != server.model_name:
                    self._send(404, {"error": f"Servable not found for request: Latest({name})"})
                    return False
                if version is not None and int(version) != server.version:
                    self._send(404, {"error": f"Servable not found for request: Specific({name}, {version})"})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                m = _STATUS.match(self.path)
                if not m:
                    self._send(404, {"error": f"Malformed request: GET {self.path}"})
                    return
                if not self._check_model(m["name"], m["version"]):
                    return
                if m["meta"]:
                    self._send(200, server.metadata())
                else:
                    self._send(
                        200,
                        {
                            "model_version_status": [
                                {
                                    "version": str(server.version),
                                    "state": "AVAILABLE",
                                    "status": {"error_code": "OK", "error_message": ""},
                                }
                            ]
                        },
                    )

            def do_POST(self) -> None:  # noqa: N802
                m = _PREDICT.match(self.path)
                try:
                    length = int(self.headers.get("Content-Length", 0))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_REQUEST_BYTES:
                    self.close_connection = True  # the body (if any) is not read
                    self._send(400, {"error": f"Content-Length must be 0..{MAX_REQUEST_BYTES} bytes"})
                    return
                raw = self.rfile.read(length)
                if not m:
                    self._send(404, {"error": f"Malformed request: POST {self.path}"})
                    return
                if not self._check_model(m["name"], m["version"]):
                    return
                try:
                    body = json.loads(raw.decode("utf-8"))
                    signature, inputs, fmt = server._decode_rest(body)
                    out = server.run(signature, inputs)
                    answer = server._encode_rest(out, fmt)
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    self._send(400, {"error": f"JSON Parse error: {e}"})
                    return
                except _BadRequest as e:
                    self._send(400, {"error": str(e)})
                    return
                except (ValueError, TypeError, KeyError, IndexError, binascii.Error) as e:
                    self._send(400, {"error": f"bad request: {type(e).__name__}: {e}"})
                    return
                except Exception as e:  # a fault of the server, not of the request: still an answer
                    self._send(500, {"error": f"internal error: {type(e).__name__}: {e}"})
                    return
                self._send(200, answer)

        return Handler

    # -- gRPC ---------------------------------------------------------------------------------------
    def _start_grpc(self, port: int) -> None:
        from concurrent import futures

        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        server = self
        tf = self._tf

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802
                spec = request.model_spec
                if spec.name != server.model_name or (
                    spec.HasField("version") and spec.version.value != server.version
                ):
                    context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {spec.name}")
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                try:
                    out = server.run(spec.signature_name or "serving_default", inputs)
                except _BadRequest as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
                response = predict_pb2.PredictResponse()
                response.model_spec.CopyFrom(spec)
                response.model_spec.version.value = server.version
                for k, v in out.items():
                    response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
                return response

        limit = 256 * 1024 * 1024
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2),
            options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self.host}:{port}")
        self._grpc.start()
