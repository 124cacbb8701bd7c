"""hrcam next to xplique and tf-keras-vis, measured in one run on the same model and batch (not in make test).

    python scripts/bench_peers.py                                   # the whole grid, JSON on stdout
    python scripts/bench_peers.py --models small --repeats 3 --out peers.json
    python scripts/bench_peers.py --models densenet121 --batch 8 --methods gradcam,gradcampp

The script creates (once) a throw-away virtual environment (``--venv``, default ``/tmp/hrcam-peers-venv``)
that sees the current interpreter's site-packages (a ``.pth`` file) and adds xplique (installed with
``--no-deps``: xplique 2.0.2 pins ``tensorflow<=2.20``, which would replace TF 2.21; its other dependencies
are installed with TF, Keras, NumPy and protobuf constrained to the current versions) and tf-keras-vis, then
re-runs itself inside it. Nothing is installed into the current environment.

For each model (``small``: a 4-conv CNN at 96x96, ``mobilenetv2`` and ``densenet121`` at 224x224, all
``weights=None`` and ending in logits so every library explains the same score) and each method
(Grad-CAM, Grad-CAM++, gradients, guided backprop, SmoothGrad with ``--smooth-samples`` samples at noise
0.15 x the image range), each library's public call computes the maps of the same ``--batch`` random images
for their predicted classes. Libraries alternate within every repeat (hrcam, xplique, tf-keras-vis,
forward); ``ratio`` = best forward time / best method time (throughput relative to the model's own
``tf.function`` forward pass, no XLA). ``corr`` is the mean per-image Pearson correlation of a library's
maps with hrcam's (maps min-max scaled, resized to the input size), so the timings compare the same
quantity. SmoothGrad draws different noise in every library: its correlation is limited by the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
PEERS = ["xplique==2.0.2"]
PEER_DEPS = ["einops", "deprecated", "scikit-learn", "tensorflow-probability", "tf-keras==2.21.*", "dm-tree",
             "cloudpickle", "tf-keras-vis==0.8.7"]  # fmt: skip
METHODS = ("gradcam", "gradcampp", "gradients", "guided", "smoothgrad")
LAYERS = {"small": "conv4", "mobilenetv2": "Conv_1", "densenet121": "conv5_block16_concat"}


# -- the throw-away environment ---------------------------------------------------------------------------
def ensure_venv(venv: Path) -> Path:
    import site
    from importlib import metadata

    python = venv / "bin" / "python"
    marker = venv / ".hrcam-peers-ready"
    if marker.is_file():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    sp = next(venv.glob("lib/python*/site-packages"))
    (sp / "_hrcam_parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pins = {p: metadata.version(p) for p in ("tensorflow", "keras", "numpy", "protobuf")}
    constraints = venv / "constraints.txt"
    constraints.write_text("".join(f"{k}=={v}\n" for k, v in pins.items()))
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", *PEERS], check=True)
    subprocess.run([*pip, "-c", str(constraints), *PEER_DEPS], check=True)
    marker.write_text(json.dumps(pins))
    return python


# -- inside the environment --------------------------------------------------------------------------------
def build_model(name: str):
    import keras

    keras.utils.set_random_seed(0)
    if name == "small":
        inputs = keras.Input((96, 96, 3))
        x = inputs
        for i, f in enumerate((32, 64, 128, 256), start=1):
            x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
            if i < 4:
                x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="small_cnn"), (96, 96, 3)
    app = {"mobilenetv2": keras.applications.MobileNetV2, "densenet121": keras.applications.DenseNet121}[name]
    return app(weights=None, classifier_activation=None), (224, 224, 3)


def explainers(model: Any, method: str, layer: str, batch: int, n: int) -> dict[str, Any]:
    """library -> f(x, classes) -> (B, H, W) maps, for one method."""
    import numpy as np
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency as TkvSaliency
    from tf_keras_vis.utils.scores import CategoricalScore
    from xplique import attributions as xa

    from hrcam.saliency import saliency

    smooth = {"n_samples": n, "noise_level": 0.15, "seed": 0}
    hr_name, hr_kw = {"gradcam": ("GradCAM", {}), "gradcampp": ("GradCAMPlusPlus", {}),
                      "gradients": ("Gradients", {}), "guided": ("GuidedBackprop", {}),
                      "smoothgrad": ("SmoothGrad", smooth)}[method]  # fmt: skip
    hr = saliency(
        model, method=hr_name, layer=layer if "gradcam" in method else None, batch_size=batch, **hr_kw
    )
    out: dict[str, Any] = {"hrcam": lambda x, c: hr(x, target_class=c)[1]}
    classes_n = int(model.output_shape[-1])
    xp_cls = {"gradcam": xa.GradCAM, "gradcampp": xa.GradCAMPP, "gradients": xa.Saliency,
              "guided": xa.GuidedBackprop, "smoothgrad": xa.SmoothGrad}[method]  # fmt: skip
    xp_kw = {"conv_layer": layer} if "gradcam" in method else {}
    if method in ("guided", "smoothgrad"):  # channels kept: reduced as hrcam's maps are (max |.|)
        xp_kw = {"reducer": None, **({"nb_samples": n, "noise": 0.15} if method == "smoothgrad" else {})}
    xp = xp_cls(model, batch_size=batch, **xp_kw)
    out["xplique"] = lambda x, c: np.asarray(xp.explain(x, tf.one_hot(c, classes_n)))
    if method in ("gradcam", "gradcampp"):
        tv = (Gradcam if method == "gradcam" else GradcamPlusPlus)(model, clone=False)
        out["tf-keras-vis"] = lambda x, c: tv(CategoricalScore(list(c)), x, penultimate_layer=layer)
    elif method in ("gradients", "smoothgrad"):
        tv = TkvSaliency(model, clone=False)
        kw = {"smooth_samples": n, "smooth_noise": 0.15} if method == "smoothgrad" else {}
        out["tf-keras-vis"] = lambda x, c: tv(CategoricalScore(list(c)), x, **kw)
    # tf-keras-vis guided backprop is a model modifier that swaps `activation == relu` only: it misses the
    # ReLU layers of MobileNetV2/DenseNet121 (and gives plain gradients there), so it is not timed.
    return out


def _prep(maps: Any, size: tuple[int, int]):
    import numpy as np
    import tensorflow as tf

    m = np.asarray(maps, np.float32)
    if m.ndim == 4:  # (B, H, W, C): reduce channels as hrcam's default does (max |.|)
        m = np.abs(m).max(-1)
    if m.shape[1:] != size:
        m = tf.image.resize(m[..., None], size).numpy()[..., 0]
    flat = m.reshape(len(m), -1)
    flat = flat - flat.min(1, keepdims=True)
    return flat / np.maximum(flat.max(1, keepdims=True), 1e-12)


def correlation(a: Any, b: Any, size: tuple[int, int]) -> float:
    import numpy as np

    a, b = _prep(a, size), _prep(b, size)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(np.mean((a * b).sum(1) / np.maximum(den, 1e-12)))


def bench(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    results: dict[str, Any] = {"models": {}}
    for name in args.models.split(","):
        model, shape = build_model(name)
        x = np.random.default_rng(0).random((args.batch, *shape), dtype=np.float32)
        xt = tf.constant(x)
        forward = tf.function(lambda v, m=model: m(v, training=False))
        forward(xt)
        classes = np.argmax(forward(xt).numpy(), -1).astype(np.int32)
        per_method = {}
        for method in args.methods.split(","):
            fns = explainers(model, method, LAYERS[name], args.batch, args.smooth_samples)
            times: dict[str, list[float]] = {k: [] for k in (*fns, "forward")}
            maps: dict[str, Any] = {}
            errors: dict[str, str] = {}
            for lib, fn in fns.items():  # warm-up (tracing) and the maps for the correlation
                try:
                    maps[lib] = fn(x, classes)
                except Exception as e:  # noqa: BLE001 - a peer failing is a result, not a crash
                    errors[lib] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            for _ in range(args.repeats):
                for lib, fn in fns.items():
                    if lib in errors:
                        continue
                    t = time.perf_counter()
                    fn(x, classes)
                    times[lib].append(time.perf_counter() - t)
                t = time.perf_counter()
                forward(xt).numpy()
                times["forward"].append(time.perf_counter() - t)
            fwd = min(times["forward"])
            row = {"forward_s": round(fwd, 4)}
            for lib in fns:
                if lib in errors:
                    row[lib] = {"error": errors[lib]}
                    continue
                row[lib] = {"seconds": round(min(times[lib]), 4), "ratio": round(fwd / min(times[lib]), 3),
                            "corr": round(correlation(maps[lib], maps["hrcam"], shape[:2]), 3)}  # fmt: skip
            per_method[method] = row
            print(json.dumps({name: {method: row}}), file=sys.stderr, flush=True)
        results["models"][name] = {"input": list(shape), "batch": args.batch, "methods": per_method}
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="small,mobilenetv2,densenet121")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--smooth-samples", type=int, default=8)
    p.add_argument("--venv", default="/tmp/hrcam-peers-venv")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.inside:
        python = ensure_venv(Path(args.venv))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        return subprocess.run([str(python), __file__, "--inside", *sys.argv[1:]], env=env).returncode
    import tensorflow as tf
    import tf_keras_vis
    import xplique

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg": os.getloadavg()},
        "versions": {
            "tensorflow": tf.__version__,
            "xplique": xplique.__version__,
            "tf_keras_vis": tf_keras_vis.__version__,
        },  # fmt: skip
        "settings": {k: getattr(args, k) for k in ("batch", "repeats", "smooth_samples")},
        **bench(args),
    }
    result["machine"]["loadavg_after"] = os.getloadavg()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
