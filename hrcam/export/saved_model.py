"""Export a classifier with saliency heads as a SavedModel in TF Serving's directory layout.

    BASE/
      models.config                       model_config_list for ``--model_config_file`` (every model in BASE)
      NAME/
        1/                                one version, renamed into place in one step when complete
          saved_model.pb, variables/, assets/, fingerprint.pb
          assets.extra/tf_serving_warmup_requests
          README.txt                      the signatures' inputs and outputs
          hrcam_export.json               the same, machine-readable, plus the model's description
        2/ ...

A version is written under a temporary name (``.2.tmp-XXXX``, which TF Serving ignores because it is not
an integer), checked (reloaded, every warm-up request run and compared with the in-memory functions), and
renamed to ``2`` in one step: a server polling BASE never sees a half-written version, and an export that is
killed half-way leaves no version directory. An existing version is never overwritten.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.export.heads import ServingHeads
from hrcam.export.warmup import WARMUP_FILE, read_warmup_requests, write_warmup_requests
from hrcam.io import atomic_dir, write_json, write_text

__all__ = [
    "ExportResult",
    "export_saved_model",
    "next_version",
    "list_versions",
    "remove_stale_temporaries",
    "write_model_config",
    "MODEL_CONFIG_FILE",
    "README_FILE",
    "METADATA_FILE",
]

MODEL_CONFIG_FILE = "models.config"
README_FILE = "README.txt"
METADATA_FILE = "hrcam_export.json"
_CONFIG_MARKER = "# hrcam models.config"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERIFY_ATOL = 1e-5


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """Where an export went and what it holds.

    Attributes:
        path: the version directory ``BASE/NAME/VERSION``.
        base_dir: BASE.
        name: the model name.
        version: the version number.
        signatures: the signature names.
        heads: the map outputs.
        model_config: ``BASE/models.config`` when it was written, else ``None``.
    """

    path: Path
    base_dir: Path
    name: str
    version: int
    signatures: tuple[str, ...]
    heads: tuple[str, ...]
    model_config: Path | None

    def __fspath__(self) -> str:
        return str(self.path)


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """The complete versions under ``BASE/NAME`` (integer directory names, as TF Serving reads them),
    sorted."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: str | os.PathLike) -> int:
    """The version an export without ``version`` gets: one more than the largest, or 1."""
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"`name` must be a model name of letters, digits, '.', '_' or '-' (not starting with '.' or "
            "'-'), "
            f"got {name!r}"
        )
    return name


def _check_version(version: Any) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(f"`version` must be a positive int (TF Serving version directory), got {version!r}")
    return int(version)


def write_model_config(base_dir: str | os.PathLike, config_base_path: str = "/models") -> Path | None:
    """Write ``BASE/models.config`` listing every model under BASE (a directory with integer versions).

    Args:
        base_dir: BASE.
        config_base_path: where BASE is seen by the server: ``/models`` when BASE is mounted there in the
            TF Serving container (``-v BASE:/models``); pass BASE's absolute path for a local
            ``tensorflow_model_server``.

    Returns:
        The file, or ``None`` when an existing ``models.config`` was not written by hrcam (it is then left
        alone, with a warning: add the model to it by hand).
    """
    base_dir = Path(base_dir)
    path = base_dir / MODEL_CONFIG_FILE
    if path.exists() and not path.read_text(encoding="utf-8").startswith(_CONFIG_MARKER):
        warnings.warn(
            f"{path} exists and was not written by hrcam; it was left unchanged (add the new model to it "
            "by hand)",
            stacklevel=3,
        )
        return None
    names = sorted(
        p.name for p in base_dir.iterdir() if p.is_dir() and _NAME_RE.match(p.name) and list_versions(p)
    )
    root = config_base_path.rstrip("/") or "/"
    lines = [
        f"{_CONFIG_MARKER}: every model under this directory (rewritten by `hrcam export`; edit a copy).",
        f"# tensorflow_model_server --model_config_file={root}/{MODEL_CONFIG_FILE} "
        "--model_config_file_poll_wait_seconds=60",
        "model_config_list {",
    ]
    for name in names:
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{root.rstrip("/")}/{name}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    return write_text(path, "\n".join(lines) + "\n")


def _readme(serving: ServingHeads, name: str, version: int, class_names: Sequence[str] | None) -> str:
    h, w, c = serving.input_shape
    kind = {
        "half": "HalfModel",
        "full": "FullModel",
        "keras": f"Keras classifier {serving.classifier.name!r}",
    }[serving.kind]
    lines = [
        f"hrcam SavedModel: model {name!r}, version {version}",
        "",
        f"Classifier: {kind}, {serving.num_classes} classes, input {h}x{w}x{c} "
        "(requests of any size are resized in the graph).",
        f"Heads: {', '.join(serving.heads) or 'none (probabilities and top-k only)'}; "
        f"top-k: {serving.top_k}.",
        f"Written {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} by hrcam, "
        f"TensorFlow {tf.__version__}.",
        "",
        "Every map is float32 (B, H, W) at the request's size, min-max normalised per map to [0, 1]",
        "(a constant map is all zeros). Bad requests (wrong rank or channel count, float pixels outside",
        "[0, 1], class index out of range, undecodable bytes) fail with INVALID_ARGUMENT and a message.",
        "",
        "Signatures",
        "==========",
    ]
    for info in serving.signature_info().values():
        lines += ["", f"{info.name}: {info.description}", "  inputs:"]
        lines += [f"    {t.name:<14} {t.dtype:<8} {t.shape:<16} {t.description}" for t in info.inputs]
        lines.append("  outputs:")
        lines += [f"    {t.name:<14} {t.dtype:<8} {t.shape:<16} {t.description}" for t in info.outputs]
    lines += [
        "",
        "REST (TF Serving, port 8501), e.g. one PNG file:",
        '  curl -d \'{"signature_name": "serving_bytes", '
        '"instances": [{"b64": "\'$(base64 -w0 x.png)\'"}]}\' \\',
        f"       http://localhost:8501/v1/models/{name}:predict",
        "Python: hrcam.export.client.predict(url, images, signature=...) (REST) or predict_grpc (port 8500).",
    ]
    if class_names is not None:
        lines += ["", "Classes:"] + [f"  {i}: {n}" for i, n in enumerate(class_names)]
    return "\n".join(lines) + "\n"


def _metadata(
    serving: ServingHeads, name: str, version: int, class_names: Sequence[str] | None, warmup: bool
) -> dict[str, Any]:
    from hrcam import __version__

    return {
        "format": "hrcam-saved-model",
        "format_version": 1,
        "name": name,
        "version": version,
        "model_kind": serving.kind,
        "input_shape": list(serving.input_shape),
        "num_classes": serving.num_classes,
        "class_names": list(class_names) if class_names is not None else None,
        "heads": list(serving.heads),
        "top_k": serving.top_k,
        "gradcam_layer": serving.gradcam.layer_name if serving.gradcam is not None else None,
        "warmup_requests": str(WARMUP_FILE) if warmup else None,
        "signatures": {k: v.as_dict() for k, v in serving.signature_info().items()},
        "hrcam_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def _verify(
    export_dir: Path, serving: ServingHeads, requests: list[tuple[str, dict[str, np.ndarray]]]
) -> None:
    """Reload the SavedModel (as a server would) and check that every request gives what the in-memory
    serving functions give (run eagerly, so no signature is traced again)."""
    loaded = tf.saved_model.load(str(export_dir))
    missing = sorted(set(serving.signature_names()) - set(loaded.signatures))
    if missing:
        raise RuntimeError(f"export check failed: the SavedModel lacks the signature(s) {missing}")
    for signature, inputs in requests:
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        got = loaded.signatures[signature](**tensors)
        want = getattr(serving, signature)(**tensors)
        if set(got) != set(want):
            raise RuntimeError(
                f"export check failed: signature {signature!r} returns {sorted(got)}, expected {sorted(want)}"
            )
        for key, value in want.items():
            a, b = np.asarray(got[key]), np.asarray(value)
            if a.shape != b.shape or not np.allclose(a, b, atol=_VERIFY_ATOL, rtol=0):
                raise RuntimeError(
                    f"export check failed: signature {signature!r} output {key!r} of the reloaded SavedModel "
                    f"differs from the in-memory model (shapes {a.shape} vs {b.shape})"
                )


def export_saved_model(
    model: Any,
    base_dir: str | os.PathLike,
    name: str,
    version: int | None = None,
    *,
    heads: Sequence[str] | str | None = None,
    top_k: int = 5,
    gradcam_layer: str | keras.layers.Layer | None = None,
    class_names: Sequence[str] | None = None,
    warmup: bool = True,
    warmup_batch_sizes: Sequence[int] = (1,),
    warmup_image_size: tuple[int, int] | None = None,
    verify: bool = True,
    model_config: bool = True,
    config_base_path: str = "/models",
) -> ExportResult:
    """Export ``model`` with saliency signatures to ``BASE/NAME/VERSION`` (TF Serving's layout).

    Args:
        model: a HalfModel, FullModel, Keras classifier (Grad-CAM head only) or ``.keras`` path.
        base_dir: BASE, the directory TF Serving's ``--model_config_file`` / ``--model_base_path`` points at.
        name: the model name (``BASE/NAME``; the ``NAME`` in ``/v1/models/NAME:predict``).
        version: the version number; ``None`` = the next integer (1 for a new model). An existing version
            raises ``FileExistsError``: versions are never overwritten.
        heads: map outputs (``"cam"``, ``"high_res_cam"``, ``"gradcam"``, a list or a comma-separated
            string); ``None`` = every head the model supports; ``()`` = a bare classifier.
        top_k: classes in the ``classes``/``scores`` outputs (capped at the number of classes).
        gradcam_layer: Grad-CAM's layer; ``None`` = ``conv_aux`` for hrcam models, else the last 4-D layer.
        class_names: optional class names, written to README.txt and hrcam_export.json.
        warmup: write ``assets.extra/tf_serving_warmup_requests`` (needs tensorflow-serving-api).
        warmup_batch_sizes: one warm-up request per signature and batch size.
        warmup_image_size: (H, W) of the warm-up images; default the model's input size (224x224 when the
            model accepts any size).
        verify: before the version becomes visible, reload it and run every warm-up request (or one batch
            per signature without warm-up), comparing with the in-memory model (atol 1e-5).
        model_config: write ``BASE/models.config`` (see :func:`write_model_config`).
        config_base_path: BASE as the server sees it (``/models`` in the TF Serving container).

    Returns:
        An :class:`ExportResult` (``os.fspath`` gives the version directory).

    Raises:
        ValueError: bad name, version, heads, top_k, or a model that is not a classifier.
        FileExistsError: the version exists.
        ImportError: ``warmup=True`` without tensorflow-serving-api.
        RuntimeError: the reloaded SavedModel does not reproduce the model (nothing is left behind).
    """
    name = _check_name(name)
    version = _check_version(version)
    serving = ServingHeads(model, heads=heads, top_k=top_k, gradcam_layer=gradcam_layer)
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        if len(class_names) != serving.num_classes:
            raise ValueError(
                f"`class_names` has {len(class_names)} names but the model has {serving.num_classes} classes"
            )
    base_dir = Path(base_dir)
    if base_dir.exists() and not base_dir.is_dir():
        raise ValueError(f"`base_dir` {str(base_dir)!r} exists and is not a directory")
    model_dir = base_dir / name
    if version is None:
        version = next_version(model_dir)
    version_dir = model_dir / str(version)
    if version_dir.exists():
        raise FileExistsError(f"{version_dir} already exists; versions are never overwritten (pick another)")
    h, w, c = serving.input_shape
    if warmup_image_size is None:
        warmup_image_size = (h or 224, w or 224)

    archive = keras.export.ExportArchive()
    archive.track(serving.keras_model)
    for source in serving.sources.values():  # heads with models of their own (a masker, an Explainer)
        for extra in source.keras_models:
            archive.track(extra)
    for sig, (fn, spec) in serving.endpoints().items():
        archive.add_endpoint(name=sig, fn=fn, input_signature=spec)

    signatures = serving.signature_names()
    try:
        with atomic_dir(version_dir) as tmp:
            archive.write_out(str(tmp), verbose=False)
            if warmup:
                write_warmup_requests(
                    tmp / WARMUP_FILE, name, signatures, warmup_image_size, c, warmup_batch_sizes
                )
            write_text(tmp / README_FILE, _readme(serving, name, version, class_names))
            write_json(tmp / METADATA_FILE, _metadata(serving, name, version, class_names, warmup))
            if verify:
                if warmup:
                    requests = read_warmup_requests(tmp / WARMUP_FILE)
                else:
                    from hrcam.export.warmup import warmup_inputs

                    requests = [(s, warmup_inputs(s, 2, warmup_image_size, c)) for s in signatures]
                _verify(tmp, serving, requests)
    except OSError as e:
        if version_dir.exists() and not isinstance(e, FileExistsError):
            raise FileExistsError(
                f"{version_dir} appeared while exporting (another export?); it was left unchanged"
            ) from e
        raise
    config_path = write_model_config(base_dir, config_base_path) if model_config else None
    return ExportResult(
        path=version_dir,
        base_dir=base_dir,
        name=name,
        version=version,
        signatures=tuple(signatures),
        heads=serving.heads,
        model_config=config_path,
    )


def remove_stale_temporaries(model_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary directories (``.N.tmp-*``) that killed exports left in ``BASE/NAME``.

    Only call this when no export into ``model_dir`` is running. Returns the removed paths.
    """
    removed = []
    model_dir = Path(model_dir)
    if model_dir.is_dir():
        for p in model_dir.iterdir():
            if p.is_dir() and re.match(r"^\.\d+\.tmp-", p.name):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed
