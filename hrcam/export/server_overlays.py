"""Overlays from a running TF Serving model: send image files, draw the returned maps over them.

The overlays are written by :func:`hrcam.plotting.overlays.write_overlays` with the names of
:func:`hrcam.plotting.overlays.unique_stems`, the same writer and names as the local ``hrcam explain``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["explain_from_server", "MAP_OUTPUTS"]

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
        out_dir: where ``<stem>_<map>.png`` and ``predictions.json`` go (created if needed); stems are
            de-duplicated as in the local ``hrcam explain`` (``a/x.jpg, b/x.jpg -> x, x-1``).
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

    from hrcam.export.client import predict, predict_grpc
    from hrcam.export.payloads import choose_signature, read_image_bytes
    from hrcam.io import write_json
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
    out_dir = Path(out_dir)
    sig = choose_signature(kinds[signature], explain=class_index is not None)
    written: list[Path] = []
    records = []
    stems = unique_stems(list(image_paths))
    for i, p in enumerate(image_paths):
        data = read_image_bytes(p, i)
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
        record: dict[str, Any] = {"image": str(p), "maps": []}
        for key in ("classes", "scores", "class_index"):
            if key in out:
                record[key] = np.asarray(out[key])[0].tolist()
        maps = {head: np.asarray(out[head])[0] for head in MAP_OUTPUTS if head in out}
        files = write_overlays([(stems[i], pixels, maps)], out_dir, alpha=alpha, cmap=cmap)
        written.extend(files)
        record["maps"] = [str(f) for f in files]
        records.append(record)
    write_json(
        out_dir / "predictions.json", {"model_name": model_name, "signature": sig, "predictions": records}
    )
    return {"files": written, "predictions": records}
