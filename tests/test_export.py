"""SavedModel export for TF Serving: layout, signatures vs the Python API (in a fresh process without hrcam,
and through ``saved_model_cli run``), in-graph request errors, warm-up records, atomic versions, the CLI, and
the REST/gRPC clients against a loopback stand-in for TF Serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam import ops
from hrcam.export import (
    SIGNATURES,
    WARMUP_FILE,
    ServingHeads,
    export_saved_model,
    list_versions,
    next_version,
    read_warmup_requests,
)
from hrcam.models import DenseNetFCNConfig, FullModel, HalfModel
from hrcam.saliency import GradCAM

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SAVED_MODEL_CLI = str(Path(sys.executable).parent / "saved_model_cli")
TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)
ATOL = 1e-5
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


# ----------------------------------------------------------------------------------------------------------
# Fixtures: three tiny models, exported once per module


def _keras_classifier() -> keras.Model:
    """A plain Keras CNN that takes any image size (Grad-CAM head only)."""
    inputs = keras.Input((None, None, 3), name="pixels")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs, name="plain_cnn")


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(3)
    hm = HalfModel(num_classes=5, input_shape=(32, 32, 3), config=TINY)
    fm = FullModel(half_model=hm)
    # Give the expansion path non-trivial weights of its own (it is untrained).
    for layer in fm.model.layers:
        if layer.name not in fm.half_layer_names and layer.weights:
            layer.set_weights(
                [w + 0.05 * np.random.default_rng(1).standard_normal(w.shape) for w in layer.get_weights()]
            )
    plain = _keras_classifier()
    # The Python API's Grad-CAM (one instance each, so their compiled functions are reused across tests).
    gradcam = {
        "half": GradCAM(hm.model, layer="conv_aux"),
        "half_raw": GradCAM(hm.model, layer="conv_aux", normalize=False, upsample=False),
        "full_raw": GradCAM(fm.half_model.model, layer="conv_aux", normalize=False, upsample=False),
        "plain": GradCAM(plain),
    }
    return {"half": hm, "full": fm, "plain": plain, "gradcam": gradcam}


@pytest.fixture(scope="module")
def base(tmp_path_factory, models):
    base = tmp_path_factory.mktemp("serving")
    # The HalfModel export is verified (reloaded and compared before it is published); the others skip it.
    export_saved_model(models["half"], base, "half", warmup_batch_sizes=(1, 3))
    export_saved_model(models["full"], base, "full", verify=False)
    export_saved_model(models["plain"], base, "plain", verify=False, warmup_image_size=(32, 32), top_k=3)
    return base


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return {
        "a": rng.random((7, 32, 32, 3), dtype=np.float32),  # the model's size, batch 7
        "b": rng.random((1, 48, 40, 3), dtype=np.float32),  # another size, batch 1
        "c": rng.random((2, 20, 24, 3), dtype=np.float32),  # smaller than the model
    }


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, tiny_imagenet_root_or_none):
    """Real JPEG photographs (tiny-imagenet-10 when present) and PNG copies of them."""
    from PIL import Image

    d = tmp_path_factory.mktemp("files")
    if tiny_imagenet_root_or_none is not None:
        src = sorted((tiny_imagenet_root_or_none / "val").rglob("*.JPEG"))[:3]
        jpegs = []
        for i, p in enumerate(src):
            target = d / f"photo{i}.jpg"
            target.write_bytes(p.read_bytes())
            jpegs.append(target)
    else:  # pragma: no cover - only without the data set
        rng = np.random.default_rng(5)
        jpegs = []
        for i in range(3):
            arr = (np.cumsum(rng.random((64, 64, 3)), axis=1) * 4 % 255).astype(np.uint8)
            target = d / f"photo{i}.jpg"
            Image.fromarray(arr).save(target, quality=90)
            jpegs.append(target)
    pngs = []
    for i, p in enumerate(jpegs[:2]):
        target = d / f"photo{i}.png"
        Image.open(p).convert("RGB").save(target)
        pngs.append(target)
    gray = d / "gray.png"
    Image.open(jpegs[0]).convert("L").save(gray)
    odd = d / "odd.png"
    Image.open(jpegs[0]).convert("RGB").resize((50, 30)).save(odd)
    bad = d / "not_an_image.png"
    bad.write_bytes(b"GIF89a this is not a JPEG or PNG")
    return {"jpeg": jpegs, "png": pngs, "gray": gray, "odd": odd, "bad": bad}


@pytest.fixture(scope="module")
def tiny_imagenet_root_or_none():
    root = REPO.parent / "shared" / "data" / "tiny-imagenet-10"
    return root if (root / "val").is_dir() else None


def _decode(path: Path) -> np.ndarray:
    return tf.io.decode_image(Path(path).read_bytes(), channels=3, expand_animations=False).numpy()


# ----------------------------------------------------------------------------------------------------------
# The Python API's answers (what every signature must reproduce)


def _resized(x: np.ndarray, size=(32, 32)) -> np.ndarray:
    if x.shape[1:3] == tuple(size):
        return x
    return tf.image.resize(x, size, method="bilinear", antialias=True).numpy()


def _to_size(raw: np.ndarray, size) -> np.ndarray:
    """Raw (B, h, w) maps -> (B, H, W) at the request's size, normalised (the documented output)."""
    return ops.normalize_maps(ops.resize_maps(raw, size)).numpy()


def expected(models, name: str, x: np.ndarray, classes=None) -> dict[str, np.ndarray]:
    """Outputs of the Python API for float images x; ``classes`` = B explicit classes or None (top class)."""
    size = x.shape[1:3]
    out = {}
    if name == "half":
        hm = models["half"]
        probs = hm.predict_proba(x)
        cls = probs.argmax(1) if classes is None else np.asarray(classes)
        out["cam"] = _to_size(hm.cam(x, custom_class=cls), size)
        gc = models["gradcam"]["half_raw"]
        if size == (32, 32):  # the plain Python call at the model's size
            out["gradcam"] = models["gradcam"]["half"](x, target_class=cls)[1]
        else:
            out["gradcam"] = _to_size(gc(_resized(x), target_class=cls)[1], size)
    elif name == "full":
        fm = models["full"]
        high, low, probs = fm.generate_cams(x, normalize=False)
        cls = probs.argmax(1) if classes is None else np.asarray(classes)
        high, low, _ = fm.generate_cams(x, custom_class=cls, normalize=False)
        out["high_res_cam"] = ops.normalize_maps(high).numpy()
        out["cam"] = _to_size(low, size)
        gc = models["gradcam"]["full_raw"]
        out["gradcam"] = _to_size(gc(_resized(x), target_class=cls)[1], size)
    else:
        model = models["plain"]
        gc = models["gradcam"]["plain"]
        probs = model(x, training=False).numpy()
        cls = probs.argmax(1) if classes is None else np.asarray(classes)
        probs, out["gradcam"] = gc(x, target_class=cls)
    out["probabilities"] = probs
    out["class_index"] = cls
    return out


def _class_index(batch: int) -> np.ndarray:
    """Explicit classes and -1 (the predicted class) mixed in one request."""
    return np.array([-1, 0, 3, 1, -1, 2, 3][:batch], np.int32)


def _check_outputs(got: dict, want: dict, top_k: int | None, explain: bool, label: str) -> None:
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=ATOL, err_msg=label)
    heads = [k for k in ("cam", "high_res_cam", "gradcam") if k in want]
    assert set(got) == {"probabilities", *heads, *(("class_index",) if explain else ("classes", "scores"))}, (
        label
    )
    for head in heads:
        assert got[head].shape == want[head].shape, (label, head)
        assert got[head].dtype == np.float32
        np.testing.assert_allclose(got[head], want[head], atol=ATOL, err_msg=f"{label} {head}")
    if explain:
        np.testing.assert_array_equal(got["class_index"], want["class_index"])
    else:
        order = np.argsort(-want["probabilities"], axis=1, kind="stable")[:, :top_k]
        np.testing.assert_array_equal(got["classes"], order, err_msg=label)
        np.testing.assert_allclose(
            got["scores"], np.take_along_axis(want["probabilities"], order, 1), atol=ATOL
        )


# ----------------------------------------------------------------------------------------------------------
# A fresh process: tf.saved_model.load, every signature, no hrcam


CHILD = textwrap.dedent(
    r"""
    import json, sys
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    spec = json.load(open(sys.argv[1]))
    arrays = np.load(spec["arrays"])
    loaded, results, errors, warmup = {}, {}, {}, {}
    for path in spec["exports"]:
        loaded[path] = tf.saved_model.load(path)
    for case in spec["cases"]:
        fn = loaded[case["export"]].signatures[case["signature"]]
        inputs = {}
        for key, src in case["inputs"].items():
            if isinstance(src, list):
                inputs[key] = tf.constant([open(p, "rb").read() for p in src])
            else:
                inputs[key] = tf.constant(arrays[src])
        try:
            out = fn(**inputs)
        except tf.errors.InvalidArgumentError as e:
            errors[case["id"]] = {"type": type(e).__name__, "message": e.message}
            continue
        except Exception as e:
            errors[case["id"]] = {"type": type(e).__name__, "message": str(e)}
            continue
        for k, v in out.items():
            results[case["id"] + "/" + k] = v.numpy()
    # The TF1 session loader: what TF Serving and `saved_model_cli run` use.
    for case in spec["session_cases"]:
        with tf.compat.v1.Session(graph=tf.Graph()) as sess:
            meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], case["export"])
            sig = meta.signature_def[case["signature"]]
            feed = {}
            for key, src in case["inputs"].items():
                value = [open(p, "rb").read() for p in src] if isinstance(src, list) else arrays[src]
                feed[sig.inputs[key].name] = value
            fetch = {k: v.name for k, v in sig.outputs.items()}
            try:
                out = sess.run(fetch, feed)
            except tf.errors.InvalidArgumentError as e:
                errors[case["id"]] = {"type": type(e).__name__, "message": e.message}
                continue
        for k, v in out.items():
            results[case["id"] + "/" + k] = v
    for path in spec["exports"]:
        records = []
        for raw in tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests"):
            log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            req = log.predict_log.request
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in req.inputs.items()}
            out = loaded[path].signatures[req.model_spec.signature_name](**inputs)
            records.append({
                "model": req.model_spec.name,
                "signature": req.model_spec.signature_name,
                "batch": int(next(iter(inputs.values())).shape[0]),
                "outputs": sorted(out),
                "finite": bool(all(np.all(np.isfinite(v.numpy()))
                                   for v in out.values() if v.dtype.is_floating)),
            })
        warmup[path] = records
    np.savez(spec["out"], **results)
    hrcam_imported = any(m.startswith("hrcam") for m in sys.modules)
    json.dump({"errors": errors, "warmup": warmup, "hrcam_imported": hrcam_imported},
              open(spec["out"] + ".json", "w"))
    """
)


@pytest.fixture(scope="module")
def saved_model_cli_run(base, images, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "x.npy", images["b"])
    np.save(d / "ci.npy", np.array([3], np.int32))
    args = [
        "run",
        "--dir",
        str(base / "full" / "1"),
        "--tag_set",
        "serve",
        "--signature_def",
        "explain",
        "--inputs",
        f"images={d / 'x.npy'};class_index={d / 'ci.npy'}",
        "--outdir",
        str(d / "out"),
    ]
    proc = subprocess.Popen(
        [SAVED_MODEL_CLI, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    yield proc, d / "out"
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def fresh_process(base, images, image_files, tmp_path_factory, saved_model_cli_run):
    """Run every case in one fresh Python process that never imports hrcam."""
    d = tmp_path_factory.mktemp("child")
    arrays: dict[str, np.ndarray] = {}
    cases: list[dict] = []

    def add(case_id, export, signature, **inputs):
        spec_inputs = {}
        for key, value in inputs.items():
            if isinstance(value, list):
                spec_inputs[key] = [str(p) for p in value]
            else:
                arrays[f"{case_id}.{key}"] = value
                spec_inputs[key] = f"{case_id}.{key}"
        cases.append(
            {"id": case_id, "export": str(base / export / "1"), "signature": signature, "inputs": spec_inputs}
        )

    for export in ("half", "full", "plain"):
        for key, x in images.items():
            u8 = np.round(x * 255).astype(np.uint8)
            add(f"{export}/default/{key}", export, "serving_default", images=x)
            add(f"{export}/uint8/{key}", export, "serving_uint8", images=u8)
            ci = _class_index(len(x))
            add(f"{export}/explain/{key}", export, "explain", images=x, class_index=ci)
            add(f"{export}/explain_uint8/{key}", export, "explain_uint8", images=u8, class_index=ci)
        add(f"{export}/bytes/jpeg", export, "serving_bytes", image_bytes=image_files["jpeg"])
        add(f"{export}/bytes/png", export, "serving_bytes", image_bytes=image_files["png"])
        add(
            f"{export}/explain_bytes/png",
            export,
            "explain_bytes",
            image_bytes=image_files["png"],
            class_index=np.array([2, -1], np.int32),
        )
    add("half/bytes/gray", "half", "serving_bytes", image_bytes=[image_files["gray"]])
    # Bad requests: each must fail inside the graph with InvalidArgument and a clear message.
    x = images["a"]
    bad = {
        "rank3": ("serving_default", {"images": x[0]}),
        "rank5": ("serving_default", {"images": x[None]}),
        "channels": ("serving_default", {"images": np.concatenate([x, x[..., :1]], -1)}),
        "channels_uint8": ("serving_uint8", {"images": np.zeros((2, 32, 32, 1), np.uint8)}),
        "empty": ("serving_default", {"images": np.zeros((0, 32, 32, 3), np.float32)}),
        "range": ("serving_default", {"images": x * 255}),
        "nan": ("serving_default", {"images": np.where(x > 0.5, np.nan, x).astype(np.float32)}),
        "class_range": ("explain", {"images": x[:2], "class_index": np.array([0, 5], np.int32)}),
        "class_negative": ("explain", {"images": x[:2], "class_index": np.array([-2, 0], np.int32)}),
        "class_length": ("explain", {"images": x[:2], "class_index": np.array([0, 1, 2], np.int32)}),
        "class_rank": ("explain", {"images": x[:2], "class_index": np.array([[0], [1]], np.int32)}),
        "bytes_bad": ("serving_bytes", {"image_bytes": [image_files["bad"]]}),
        "bytes_sizes": ("serving_bytes", {"image_bytes": [image_files["png"][0], image_files["odd"]]}),
        "bytes_rank": ("serving_bytes", {"image_bytes": "scalar"}),
    }
    for name, (sig, inputs) in bad.items():
        if name == "bytes_rank":
            arrays[f"bad/{name}.image_bytes"] = np.array(
                Path(image_files["png"][0]).read_bytes(), dtype=bytes
            )
            cases.append(
                {
                    "id": f"bad/{name}",
                    "export": str(base / "half" / "1"),
                    "signature": sig,
                    "inputs": {"image_bytes": f"bad/{name}.image_bytes"},
                }
            )
        else:
            add(f"bad/{name}", "half", sig, **inputs)
    # A truncated PNG (valid header, broken data) and a zero-length string.
    trunc = d / "trunc.png"
    trunc.write_bytes(Path(image_files["png"][0]).read_bytes()[:60])
    empty = d / "empty.bin"
    empty.write_bytes(b"")
    add("bad/bytes_truncated", "half", "serving_bytes", image_bytes=[trunc])
    add("bad/bytes_empty", "half", "serving_bytes", image_bytes=[empty])

    # Through the TF1 session loader too (as TF Serving loads it): a few good and bad requests.
    session_cases = []
    for case in cases:
        if case["id"] in (
            "full/default/b",
            "half/explain/b",
            "plain/uint8/c",
            "half/bytes/png",
            "bad/channels",
            "bad/class_range",
            "bad/bytes_bad",
            "bad/rank3",
        ):
            session_cases.append({**case, "id": "session/" + case["id"]})
    np.savez(d / "arrays.npz", **arrays)
    spec = {
        "session_cases": session_cases,
        "arrays": str(d / "arrays.npz"),
        "exports": [str(base / n / "1") for n in ("half", "full", "plain")],
        "cases": cases,
        "out": str(d / "out.npz"),
    }
    (d / "spec.json").write_text(json.dumps(spec))
    (d / "child.py").write_text(CHILD)
    proc = subprocess.run(
        [PY, str(d / "child.py"), str(d / "spec.json")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=d,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = np.load(d / "out.npz")
    results: dict[str, dict[str, np.ndarray]] = {}
    for key in data.files:
        case_id, out = key.rsplit("/", 1)
        results.setdefault(case_id, {})[out] = data[key]
    meta = json.loads((d / "out.npz.json").read_text())
    return {"results": results, **meta}


def test_fresh_process_never_imports_hrcam(fresh_process):
    assert fresh_process["hrcam_imported"] is False


@pytest.mark.parametrize("export", ["half", "full", "plain"])
@pytest.mark.parametrize("key", ["a", "b", "c"])
def test_array_signatures_equal_python_api(fresh_process, models, images, export, key):
    """serving_default / serving_uint8 / explain / explain_uint8 on batch 7 at the model's size, batch 1 at
    a larger and batch 2 at a smaller size: probabilities and maps equal the Python API's within 1e-5."""
    x = images[key]
    top_k = 3 if export == "plain" else 5
    res = fresh_process["results"]
    want = expected(models, export, x)
    _check_outputs(res[f"{export}/default/{key}"], want, top_k, False, f"{export}/default/{key}")
    assert res[f"{export}/default/{key}"]["cam" if export != "plain" else "gradcam"].shape == x.shape[:3]
    x8 = np.round(x * 255).astype(np.uint8)
    _check_outputs(
        res[f"{export}/uint8/{key}"],
        expected(models, export, x8.astype(np.float32) / 255),
        top_k,
        False,
        f"{export}/uint8/{key}",
    )
    ci = _class_index(len(x))
    resolved = np.where(ci < 0, want["probabilities"].argmax(1), ci)
    _check_outputs(
        res[f"{export}/explain/{key}"],
        expected(models, export, x, resolved),
        None,
        True,
        f"{export}/explain/{key}",
    )
    want8 = expected(models, export, x8.astype(np.float32) / 255)
    resolved8 = np.where(ci < 0, want8["probabilities"].argmax(1), ci)
    _check_outputs(
        res[f"{export}/explain_uint8/{key}"],
        expected(models, export, x8.astype(np.float32) / 255, resolved8),
        None,
        True,
        f"{export}/explain_uint8/{key}",
    )


def test_maps_are_not_trivial(fresh_process):
    """The equality checks above mean something: maps vary across images and span [0, 1]."""
    for export, head in (
        ("half", "cam"),
        ("half", "gradcam"),
        ("full", "high_res_cam"),
        ("plain", "gradcam"),
    ):
        maps = fresh_process["results"][f"{export}/default/a"][head]
        spans = maps.max(axis=(1, 2)) - maps.min(axis=(1, 2))
        assert (spans > 0.99).sum() >= 4, (export, head, spans)
        assert np.abs(maps[0] - maps[1]).max() > 1e-3


@pytest.mark.parametrize("export", ["half", "full", "plain"])
@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_bytes_signature_on_real_files(fresh_process, models, image_files, export, kind):
    files = image_files[kind]
    x = np.stack([_decode(p) for p in files]).astype(np.float32) / 255.0
    got = fresh_process["results"][f"{export}/bytes/{kind}"]
    _check_outputs(
        got, expected(models, export, x), 3 if export == "plain" else 5, False, f"{export}/bytes/{kind}"
    )
    assert got["probabilities"].shape[0] == len(files)
    if kind == "png":
        got = fresh_process["results"][f"{export}/explain_bytes/png"]
        want = expected(models, export, x)
        resolved = np.array([2, want["probabilities"][1].argmax()])
        _check_outputs(got, expected(models, export, x, resolved), None, True, f"{export}/explain_bytes")


def test_bytes_signature_converts_grayscale(fresh_process, models, image_files):
    got = fresh_process["results"]["half/bytes/gray"]
    x = _decode(image_files["gray"])[None].astype(np.float32) / 255.0  # decode_image(channels=3) repeats gray
    _check_outputs(got, expected(models, "half", x), 5, False, "gray")


BAD_MESSAGES = {
    "rank3": "`images` must have rank 4",
    "rank5": "`images` must have rank 4",
    "channels": "`images` must have 3 channel(s)",
    "channels_uint8": "`images` must have 3 channel(s)",
    "empty": "at least one image",
    "range": "must be finite and in [0, 1]",
    "nan": "must be finite and in [0, 1]",
    "class_range": "`class_index` values must be in [0, 4] or -1",
    "class_negative": "`class_index` values must be in [0, 4] or -1",
    "class_length": "`class_index` must have shape (batch,)",
    "class_rank": "`class_index` must have shape (batch,)",
    "bytes_bad": "is not a JPEG or PNG file",
    "bytes_sizes": "must have the same size",
    "bytes_rank": "`image_bytes` must be a non-empty (batch,) vector",
    "bytes_empty": "is not a JPEG or PNG file",
    "bytes_truncated": "",  # the decoder's own InvalidArgument message
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
def test_bad_requests_fail_in_graph_with_clear_message(fresh_process, case):
    err = fresh_process["errors"].get(f"bad/{case}")
    assert err is not None, f"bad request {case!r} did not fail"
    assert err["type"] == "InvalidArgumentError", err
    assert BAD_MESSAGES[case] in err["message"], err["message"][:500]


def test_warmup_records_parse_and_run(fresh_process, base):
    half = fresh_process["warmup"][str(base / "half" / "1")]
    # One record per signature and batch size (1 and 3), named for the model.
    assert sorted((r["signature"], r["batch"]) for r in half) == sorted(
        (s, b) for s in SIGNATURES for b in (1, 3)
    )
    assert all(r["model"] == "half" and r["finite"] for r in half)
    full = fresh_process["warmup"][str(base / "full" / "1")]
    assert {r["signature"] for r in full} == set(SIGNATURES)
    assert all("high_res_cam" in r["outputs"] for r in full)
    # In-process parsing agrees (the helper TF Serving does not need, but users may).
    parsed = read_warmup_requests(base / "half" / "1" / WARMUP_FILE)
    assert [(s, next(iter(v.values())).shape[0]) for s, v in parsed] == [
        (r["signature"], r["batch"]) for r in half
    ]


def test_tf1_session_loader_gives_the_same(fresh_process, models, images, image_files):
    """The TF1 session loader (TF Serving's and saved_model_cli's) answers like tf.saved_model.load."""
    res = fresh_process["results"]
    for case in ("full/default/b", "half/explain/b", "plain/uint8/c", "half/bytes/png"):
        got, ref = res["session/" + case], res[case]
        assert set(got) == set(ref), case
        for k in got:
            np.testing.assert_allclose(got[k], ref[k], atol=ATOL, err_msg=case)
    for case in ("channels", "class_range", "bytes_bad", "rank3"):
        err = fresh_process["errors"]["session/bad/" + case]
        assert err["type"] == "InvalidArgumentError" and BAD_MESSAGES[case] in err["message"], err


# ----------------------------------------------------------------------------------------------------------
# saved_model_cli run (the TF1 session loader, like TF Serving)


def test_saved_model_cli_run(saved_model_cli_run, models, images):
    """`saved_model_cli run` on the FullModel's explain signature (two inputs), started in the background
    while the fresh-process checks run."""
    proc, outdir = saved_model_cli_run
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log[-2000:]
    got = {
        k: np.load(outdir / f"{k}.npy")
        for k in ("probabilities", "class_index", "cam", "high_res_cam", "gradcam")
    }
    _check_outputs(got, expected(models, "full", images["b"], [3]), None, True, "saved_model_cli explain")


# ----------------------------------------------------------------------------------------------------------
# Layout, versions, atomicity


def test_tf_serving_layout(base):
    assert sorted(p.name for p in base.iterdir()) == ["full", "half", "models.config", "plain"]
    for name in ("half", "full", "plain"):
        v = base / name / "1"
        for rel in (
            "saved_model.pb",
            "variables/variables.index",
            "assets.extra/tf_serving_warmup_requests",
            "README.txt",
            "hrcam_export.json",
        ):
            assert (v / rel).is_file(), (name, rel)
        assert [p.name for p in (base / name).iterdir()] == ["1"]  # no temporary directory left behind
    config = (base / "models.config").read_text()
    for name in ("half", "full", "plain"):
        assert f'name: "{name}"' in config and f'base_path: "/models/{name}"' in config
    assert config.count("config {") == 3 and 'model_platform: "tensorflow"' in config
    # The text proto parses as TF Serving's ModelServerConfig.
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parsed = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
    assert sorted(c.name for c in parsed.model_config_list.config) == ["full", "half", "plain"]


def test_readme_and_metadata_describe_the_real_signatures(base):
    loaded = tf.saved_model.load(str(base / "full" / "1"))
    meta = json.loads((base / "full" / "1" / "hrcam_export.json").read_text())
    readme = (base / "full" / "1" / "README.txt").read_text()
    assert set(meta["signatures"]) == set(SIGNATURES) <= set(loaded.signatures)
    for name, info in meta["signatures"].items():
        fn = loaded.signatures[name]
        assert set(info["inputs"]) == set(fn.structured_input_signature[1]), name
        assert set(info["outputs"]) == set(fn.structured_outputs), name
        for spec_name, spec in fn.structured_input_signature[1].items():
            assert info["inputs"][spec_name]["dtype"] == spec.dtype.name
        assert f"\n{name}: " in readme
    assert meta["heads"] == ["cam", "high_res_cam", "gradcam"] and meta["input_shape"] == [32, 32, 3]


def test_versions_are_never_overwritten(base, models):
    before = (base / "half" / "1" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_saved_model(models["half"], base, "half", version=1)
    assert (base / "half" / "1" / "saved_model.pb").stat().st_mtime_ns == before
    assert next_version(base / "half") == 2 and list_versions(base / "half") == [1]


def test_next_version_ignores_temporaries(tmp_path):
    d = tmp_path / "m"
    assert next_version(d) == 1
    for name in ("1", "7", ".8.tmp-abc", "notes", "3x"):
        (d / name).mkdir(parents=True)
    (d / "9").write_text("a file, not a version")
    assert list_versions(d) == [1, 7] and next_version(d) == 8


KILLED = textwrap.dedent(
    r"""
    import os, signal, sys
    import keras
    import hrcam.export.saved_model as sm
    from hrcam.models import DenseNetFCNConfig, HalfModel

    def die(*args, **kwargs):  # the SavedModel is written; the process dies before the rename
        assert any(p.name.startswith(".1.tmp-") for p in (Path(sys.argv[1]) / "m").iterdir())
        os.kill(os.getpid(), signal.SIGKILL)

    from pathlib import Path
    sm.write_warmup_requests = die
    cfg = DenseNetFCNConfig(num_blocks=2, layers_per_block=1, growth_rate=4, initial_filters=8,
                            cam_channels=4)
    sm.export_saved_model(HalfModel(3, (32, 32, 3), cfg), sys.argv[1], "m", heads=(), verify=False)
    """
)


def test_killed_export_leaves_no_version(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.run(
        [PY, str(script), str(tmp_path / "base")], env=ENV, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    model_dir = tmp_path / "base" / "m"
    leftovers = [p.name for p in model_dir.iterdir()]
    assert leftovers and all(n.startswith(".1.tmp-") for n in leftovers)  # a temp dir TF Serving ignores
    assert list_versions(model_dir) == [] and next_version(model_dir) == 1
    assert not (tmp_path / "base" / "models.config").exists()
    from hrcam.export import remove_stale_temporaries

    assert len(remove_stale_temporaries(model_dir)) == 1 and list(model_dir.iterdir()) == []


def test_failed_verification_publishes_nothing(tmp_path, models, monkeypatch):
    import hrcam.export.saved_model as sm

    def broken(export_dir, serving, requests):
        raise RuntimeError("export check failed: simulated")

    monkeypatch.setattr(sm, "_verify", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        export_saved_model(models["plain"], tmp_path, "p", heads=(), warmup=False, warmup_image_size=(8, 8))
    assert list((tmp_path / "p").iterdir()) == []
    assert not (tmp_path / "models.config").exists()


# ----------------------------------------------------------------------------------------------------------
# Argument checks (no export happens)


def test_bad_arguments(models, tmp_path):
    hm = models["half"]
    with pytest.raises(ValueError, match="high_res_cam needs a FullModel"):
        ServingHeads(hm, heads=["high_res_cam"])
    with pytest.raises(ValueError, match="unknown head"):
        ServingHeads(hm, heads="cam,nonsense")
    with pytest.raises(ValueError, match="needs a FullModel"):
        ServingHeads(models["plain"], heads=["high_res_cam"])
    with pytest.raises(ValueError, match="cannot be a serving head"):
        ServingHeads(hm, heads=["refined"])
    with pytest.raises(ValueError, match="top_k"):
        ServingHeads(hm, top_k=0)
    with pytest.raises(ValueError, match="`name`"):
        export_saved_model(hm, tmp_path, "../escape")
    with pytest.raises(ValueError, match="`version`"):
        export_saved_model(hm, tmp_path, "m", version=0)
    with pytest.raises(ValueError, match="class_names"):
        export_saved_model(hm, tmp_path, "m", class_names=["a", "b"])
    with pytest.raises(FileNotFoundError, match="no model file"):
        export_saved_model(tmp_path / "missing.keras", tmp_path, "m")
    two_out = keras.Model(models["plain"].inputs, [models["plain"].output, models["plain"].output])
    with pytest.raises(ValueError, match="one \\(batch, classes\\) output"):
        ServingHeads(two_out)
    assert not any(tmp_path.iterdir())
    assert ServingHeads(hm, top_k=50).top_k == 5
    assert ServingHeads(models["full"]).heads == ("cam", "high_res_cam", "gradcam")
    assert ServingHeads(models["plain"], heads=()).signature_names() == SIGNATURES[:3]


def test_bare_classifier_outputs(models):
    serving = ServingHeads(models["half"], heads=())
    x = np.random.default_rng(2).random((3, 32, 32, 3), dtype=np.float32)
    out = serving.serving_default(tf.constant(x))
    assert set(out) == {"probabilities", "classes", "scores"}
    np.testing.assert_allclose(out["probabilities"], models["half"].predict_proba(x), atol=ATOL)


def test_gradcam_on_another_layer_still_one_forward_pass(models, images):
    """Grad-CAM on a layer other than the CAM layer: the CAM and HR-CAM activations are captured during
    Grad-CAM's forward pass; all maps still equal the Python API's."""
    fm = models["full"]
    serving = ServingHeads(fm, gradcam_layer="dense3_new")
    assert serving.gradcam.layer_name == "dense3_new" and tuple(serving.capture) == ("cam", "high_res_cam")
    gc = GradCAM(fm.half_model.model, layer="dense3_new", normalize=False, upsample=False)
    for key in ("a", "b"):
        x = images[key]
        got = {k: v.numpy() for k, v in serving.serving_default(tf.constant(x)).items()}
        want = expected(models, "full", x)
        want["gradcam"] = _to_size(gc(_resized(x))[1], x.shape[1:3])
        _check_outputs(got, want, 5, False, f"dense3_new/{key}")


# ----------------------------------------------------------------------------------------------------------
# The CLI


def test_cli_export_next_version_and_refusal(base, models, tmp_path, capsys):
    from hrcam.cli import main

    path = tmp_path / "half.keras"
    models["half"].save(path)
    names = tmp_path / "classes.txt"
    names.write_text("a\nb\nc\nd\ne\n")
    code = main(
        [
            "export",
            "--model",
            str(path),
            "--out",
            str(base),
            "--name",
            "half",
            "--heads",
            "cam",
            "--top-k",
            "2",
            "--no-verify",
            "--class-names",
            str(names),
            "--json",
        ]
    )
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == 2 and info["heads"] == ["cam"] and info["path"] == str(base / "half" / "2")
    meta = json.loads((base / "half" / "2" / "hrcam_export.json").read_text())
    assert meta["top_k"] == 2 and meta["class_names"] == list("abcde") and meta["model_kind"] == "half"
    assert list_versions(base / "half") == [1, 2]
    code = main(["export", "--model", str(path), "--out", str(base), "--name", "half", "--version", "2"])
    assert code == 2 and "never overwritten" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# Clients against a loopback stand-in for TF Serving (REST and gRPC)


@pytest.fixture(scope="module")
def server(base):
    from hrcam.export.devserver import DevServer

    with DevServer(base / "full", grpc_port=0) as s:
        yield s


def test_rest_client_row_and_columnar(server, models, images, image_files):
    from hrcam.export.client import predict

    x = images["b"]
    want = expected(models, "full", x)
    for fmt in ("row", "columnar"):
        got = predict(server.rest_url, x, model_name="full", format=fmt)
        _check_outputs(got, want, 5, False, f"rest {fmt}")
        got = predict(
            server.rest_url,
            np.round(x * 255).astype(np.uint8),
            model_name="full",
            format=fmt,
            class_index=[2],
        )
        assert got["class_index"].tolist() == [2]
    full_url = f"{server.rest_url}/v1/models/full/versions/1:predict"
    got = predict(full_url, image_files["png"], class_index=-1)
    xs = np.stack([_decode(p) for p in image_files["png"]]).astype(np.float32) / 255
    want = expected(models, "full", xs)
    _check_outputs(got, {**want, "class_index": want["probabilities"].argmax(1)}, None, True, "rest bytes")


def test_rest_client_reports_server_errors(server, images):
    from hrcam.export.client import ServingError, predict

    with pytest.raises(ServingError, match=r"`class_index` values must be in \[0, 4\]") as info:
        predict(server.rest_url, images["b"], model_name="full", class_index=[7])
    assert info.value.status == 400
    with pytest.raises(ServingError, match="must be finite and in"):
        predict(server.rest_url, images["b"] * 3, model_name="full")
    with pytest.raises(ServingError, match="404"):
        predict(server.rest_url, images["b"], model_name="nope")


def test_grpc_client(server, models, images):
    from hrcam.export.client import ServingError, predict_grpc

    x = images["c"]
    got = predict_grpc(server.grpc_target, "full", x)
    _check_outputs(got, expected(models, "full", x), 5, False, "grpc")
    with pytest.raises(ServingError, match=r"(?s)INVALID_ARGUMENT.*must have 3 channel\(s\)"):
        predict_grpc(server.grpc_target, "full", x[..., :2])


def test_explain_from_server_writes_overlays(server, image_files, tmp_path):
    from PIL import Image

    from hrcam.export.client import explain_from_server

    files = [image_files["jpeg"][0], image_files["odd"]]  # two sizes: one request each
    result = explain_from_server(server.rest_url, "full", files, tmp_path / "out")
    names = sorted(p.name for p in result["files"])
    assert names == sorted(
        f"{Path(f).stem}_{h}.png" for f in files for h in ("cam", "high_res_cam", "gradcam")
    )
    assert Image.open(tmp_path / "out" / "odd_high_res_cam.png").size == (50, 30)
    record = json.loads((tmp_path / "out" / "predictions.json").read_text())["predictions"][1]
    assert record["image"] == str(image_files["odd"]) and len(record["classes"]) == 5
    grpc_result = explain_from_server(
        server.grpc_target,
        "full",
        files[:1],
        tmp_path / "g",
        protocol="grpc",
        signature="serving_uint8",
        class_index=1,
    )
    assert grpc_result["predictions"][0]["class_index"] == 1


def test_cli_explain_with_server(server, image_files, tmp_path, capsys):
    from hrcam.cli import main

    files = [str(image_files["jpeg"][0])]
    out = tmp_path / "cli"
    assert (
        main(
            [
                "explain",
                "--server",
                server.rest_url,
                "--model-name",
                "full",
                *files,
                "--out",
                str(out),
                "--target-class",
                "2",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["predictions"][0]["class_index"] == 2
    assert {p.name for p in out.glob("*.png")} == {
        f"{Path(files[0]).stem}_{h}.png" for h in ("cam", "high_res_cam", "gradcam")
    }
    assert main(["explain", "--server", server.rest_url, *files, "--out", str(out)]) == 2
    assert "--model-name" in capsys.readouterr().err
    assert main(["explain", *files, "--out", str(out)]) == 2
    assert "--server" in capsys.readouterr().err
