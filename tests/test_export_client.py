"""The serving client's wire formats, checked against TF Serving's documented REST request/response format
(https://www.tensorflow.org/tfx/serving/api_rest) and the PredictRequest proto; no model, no server."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from hrcam.export.client import (
    ServingError,
    build_predict_request,
    choose_signature,
    make_inputs,
    parse_rest_response,
    predict_url,
    rest_request_body,
)

PIXELS = np.array([[[[1, 2, 3], [4, 5, 6]]], [[[7, 8, 9], [10, 11, 12]]]], np.uint8)  # (2, 1, 2, 3)


def test_row_format_single_input_is_a_list_of_values():
    body = rest_request_body({"images": PIXELS}, "serving_uint8", "row")
    assert body == {
        "signature_name": "serving_uint8",
        "instances": [[[[1, 2, 3], [4, 5, 6]]], [[[7, 8, 9], [10, 11, 12]]]],
    }
    assert json.loads(json.dumps(body)) == body  # plain JSON types only


def test_row_format_several_inputs_is_a_list_of_objects():
    body = rest_request_body({"images": PIXELS, "class_index": np.array([3, -1], np.int32)}, "explain_uint8")
    assert body == {
        "signature_name": "explain_uint8",
        "instances": [
            {"images": [[[1, 2, 3], [4, 5, 6]]], "class_index": 3},
            {"images": [[[7, 8, 9], [10, 11, 12]]], "class_index": -1},
        ],
    }


def test_columnar_format_is_an_object_of_batches():
    body = rest_request_body(
        {"images": PIXELS, "class_index": np.array([3, -1], np.int32)}, "explain_uint8", "columnar"
    )
    assert body == {
        "signature_name": "explain_uint8",
        "inputs": {
            "images": [[[[1, 2, 3], [4, 5, 6]]], [[[7, 8, 9], [10, 11, 12]]]],
            "class_index": [3, -1],
        },
    }


def test_binary_strings_are_b64_objects():
    files = [b"\xff\xd8\xff fake jpeg", b"\x89PNG\r\n\x1a\n fake png"]
    signature, inputs = make_inputs(files)
    assert signature == "serving_bytes"
    b64 = [base64.b64encode(f).decode("ascii") for f in files]
    assert rest_request_body(inputs, signature) == {
        "signature_name": "serving_bytes",
        "instances": [{"b64": b64[0]}, {"b64": b64[1]}],
    }
    signature, inputs = make_inputs(files, class_index=2)
    assert rest_request_body(inputs, signature) == {
        "signature_name": "explain_bytes",
        "instances": [
            {"image_bytes": {"b64": b64[0]}, "class_index": 2},
            {"image_bytes": {"b64": b64[1]}, "class_index": 2},
        ],
    }
    assert rest_request_body(inputs, signature, "columnar")["inputs"] == {
        "image_bytes": [{"b64": b64[0]}, {"b64": b64[1]}],
        "class_index": [2, 2],
    }


def test_float_values_round_trip_exactly():
    x = np.random.default_rng(0).random((1, 2, 2, 3), dtype=np.float32)
    body = json.loads(json.dumps(rest_request_body({"images": x}, "serving_default")))
    np.testing.assert_array_equal(np.asarray(body["instances"], np.float32), x)


def test_signature_choice_and_conversions(tmp_path):
    x = np.random.default_rng(1).random((2, 4, 4, 3), dtype=np.float32)
    assert make_inputs(x)[0] == "serving_default"
    assert make_inputs((x * 255).astype(np.uint8))[0] == "serving_uint8"
    assert make_inputs(x, class_index=1)[0] == "explain"
    assert make_inputs((x * 255).astype(np.uint8), class_index=[0, -1])[0] == "explain_uint8"
    assert [choose_signature(k) for k in ("float32", "uint8", "bytes")] == [
        "serving_default",
        "serving_uint8",
        "serving_bytes",
    ]
    # uint8 pixels sent to a float32 signature are scaled to [0, 1] (the float convention).
    sig, inputs = make_inputs(PIXELS, signature="serving_default")
    assert sig == "serving_default" and inputs["images"].dtype == np.float32
    np.testing.assert_allclose(inputs["images"] * 255, PIXELS)
    # Arrays sent to the bytes signature become lossless PNG files.
    sig, inputs = make_inputs(PIXELS, signature="serving_bytes")
    import tensorflow as tf

    decoded = np.stack([tf.io.decode_png(b).numpy() for b in inputs["image_bytes"]])
    np.testing.assert_array_equal(decoded, PIXELS)
    # Explain signatures always get a class_index (-1: the predicted class).
    assert make_inputs(x, signature="explain")[1]["class_index"].tolist() == [-1, -1]
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n...")
    assert make_inputs([path])[1]["image_bytes"].tolist() == [path.read_bytes()]


def test_bad_client_inputs():
    x = np.zeros((2, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="add a batch axis"):
        make_inputs(x[0])
    with pytest.raises(ValueError, match="takes uint8 pixels"):
        make_inputs(x, signature="serving_uint8")
    with pytest.raises(ValueError, match="2 ints"):
        make_inputs(x, class_index=[1, 2, 3])
    with pytest.raises(TypeError, match="class_index"):
        make_inputs(x, class_index=[0.5, 1.0])
    with pytest.raises(TypeError, match="uint8 or float32"):
        make_inputs(x.astype(np.int64))
    with pytest.raises(FileNotFoundError):
        make_inputs(["/nonexistent/file.png"])
    with pytest.raises(ValueError, match="takes pixel arrays"):
        make_inputs([b"\x89PNG"], signature="serving_uint8")
    with pytest.raises(ValueError, match="format"):
        rest_request_body({"images": x}, format="rows")
    with pytest.raises(ValueError, match="same size"):
        rest_request_body({"images": x, "class_index": np.zeros(3, np.int32)}, "explain")


def test_predict_url():
    assert predict_url("http://h:8501", "m") == "http://h:8501/v1/models/m:predict"
    assert predict_url("http://h:8501/", "m", 3) == "http://h:8501/v1/models/m/versions/3:predict"
    assert predict_url("http://h:8501/v1/models/x:predict") == "http://h:8501/v1/models/x:predict"
    with pytest.raises(ValueError, match="model_name"):
        predict_url("http://h:8501")
    with pytest.raises(ValueError, match="http"):
        predict_url("h:8501", "m")


def test_parse_documented_responses():
    row = {
        "predictions": [
            {"probabilities": [0.25, 0.75], "classes": [1, 0]},
            {"probabilities": [0.5, 0.5], "classes": [0, 1]},
        ]
    }
    out = parse_rest_response(row)
    assert out["probabilities"].dtype == np.float32 and out["probabilities"].shape == (2, 2)
    assert out["classes"].dtype == np.int32 and out["classes"].tolist() == [[1, 0], [0, 1]]
    col = parse_rest_response({"outputs": {"probabilities": [[0.25, 0.75]], "cam": [[[0.0, 1.0]]]}})
    assert col["cam"].shape == (1, 1, 2)
    # One output: TF Serving omits its name.
    assert parse_rest_response({"predictions": [3.5, 4.0]}, ["y"])["y"].tolist() == [3.5, 4.0]
    assert parse_rest_response({"outputs": [[1.0]]})["output"].shape == (1, 1)
    with pytest.raises(ServingError, match="assertion failed"):
        parse_rest_response({"error": "assertion failed: [`images` must have rank 4"})


def test_grpc_predict_request_proto():
    import tensorflow as tf

    sig, inputs = make_inputs([b"\xff\xd8\xff jpeg"], class_index=4)
    req = build_predict_request("hrcam", inputs, sig, version=7)
    assert req.model_spec.name == "hrcam" and req.model_spec.signature_name == "explain_bytes"
    assert req.model_spec.version.value == 7
    assert req.inputs["image_bytes"].dtype == tf.string.as_datatype_enum
    assert tf.make_ndarray(req.inputs["image_bytes"]).tolist() == [b"\xff\xd8\xff jpeg"]
    assert req.inputs["class_index"].dtype == tf.int32.as_datatype_enum
    req = build_predict_request("hrcam", {"images": PIXELS}, "serving_uint8")
    assert req.inputs["images"].dtype == tf.uint8.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(req.inputs["images"]), PIXELS)
    assert not req.model_spec.HasField("version")


def test_server_overlays_of_same_named_files_get_unique_names(tmp_path, monkeypatch):
    """``a/x.png`` and ``b/x.png`` sent to a server: two sets of overlays (x_*, x-1_*), each at its file's
    size, named as the local ``hrcam explain`` names them (before: the second overwrote the first)."""
    from PIL import Image

    import hrcam.export.client as client
    from hrcam.export.client import explain_from_server

    files = []
    for folder, size in (("a", (12, 9)), ("b", (7, 20))):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros(size + (3,), np.uint8)).save(tmp_path / folder / "x.png")
        files.append(tmp_path / folder / "x.png")

    def fake_predict(url, payload, signature, **kwargs):  # a served FullModel's outputs for one file
        h, w = Image.open(__import__("io").BytesIO(payload[0])).size[::-1]
        maps = np.linspace(0, 1, h * w, dtype=np.float32).reshape(1, h, w)
        return {"classes": np.array([[1, 0]]), "scores": np.array([[0.7, 0.3]]), "cam": maps, "gradcam": maps}

    monkeypatch.setattr(client, "predict", fake_predict)
    result = explain_from_server("http://stand-in:8501", "m", files, tmp_path / "out")
    names = [p.name for p in result["files"]]
    assert names == ["x_cam.png", "x_gradcam.png", "x-1_cam.png", "x-1_gradcam.png"]
    assert Image.open(tmp_path / "out" / "x_cam.png").size == (9, 12)
    assert Image.open(tmp_path / "out" / "x-1_gradcam.png").size == (20, 7)
    assert [r["image"] for r in result["predictions"]] == [str(f) for f in files]
