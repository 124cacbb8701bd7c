"""The model side of ``hrcam extract``: a ``.keras`` model or a SavedModel export -> probabilities, explained
class and one map per requested method for a uint8 batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["MapEngine", "is_saved_model"]


def is_saved_model(path: str | Path) -> Path | None:
    """The SavedModel directory of ``path`` (itself, or the highest numbered version under a TF Serving
    model directory), or None."""
    p = Path(path)
    if (p / "saved_model.pb").is_file():
        return p
    versions = sorted(
        (int(d.name), d) for d in p.glob("*") if d.name.isdigit() and (d / "saved_model.pb").is_file()
    )
    return versions[-1][1] if versions else None


class MapEngine:
    """Loads the model once; :meth:`__call__` maps a (B, H, W, 3) uint8 batch to
    ``(probabilities (B, C), classes (B,), {name: (B, H, W) float32 in [0, 1]})`` for the predicted class,
    each map under its source's canonical name.

    Methods: for a ``.keras`` model, any map source of :mod:`hrcam.sources` (the traceable ones computed
    together in one graph, as the heads of ``hrcam export``; ``refined`` after it); for a SavedModel, the
    heads it was exported with (its ``explain_uint8`` signature).
    """

    def __init__(self, model_path: str | Path, methods: tuple[str, ...], batch_size: int = 64):
        import tensorflow as tf

        from hrcam.sources import label

        self.methods = tuple(methods)
        self.batch_size = int(batch_size)
        saved = is_saved_model(model_path)
        # maps are keyed by canonical name (a spec's options and file paths stay out of file names)
        self.labels = {m: m if saved is not None else label(m) for m in self.methods}
        if len(set(self.labels.values())) != len(self.methods):
            raise ValueError(f"--methods {list(self.methods)} name the same map source twice")
        if saved is not None:
            self._signature = tf.saved_model.load(str(saved)).signatures.get("explain_uint8")
            if self._signature is None:
                raise ValueError(
                    f"--model {str(model_path)!r}: the SavedModel has no explain_uint8 signature"
                )
            spec = self._signature.structured_input_signature[1]["images"].shape
            heads = set(self._signature.structured_outputs) - {"probabilities", "class_index"}
            bad = [m for m in self.methods if m not in heads]
            if bad:
                raise ValueError(f"--methods {bad} are not heads of the SavedModel; it has {sorted(heads)}")
            self.input_size = (spec[1], spec[2])
            if None in self.input_size:  # any size accepted: read images at the exported model's size
                from hrcam.export.saved_model import METADATA_FILE
                from hrcam.io import read_json

                meta = saved / METADATA_FILE
                if not meta.is_file():
                    raise ValueError(
                        f"--model {str(saved)!r} takes any image size and has no {METADATA_FILE}"
                    )
                self.input_size = tuple(read_json(meta)["input_shape"][:2])
            return
        self._signature = None
        self._setup_keras(model_path)

    def _setup_keras(self, model_path: str | Path) -> None:
        from hrcam import sources
        from hrcam.export.heads import ServingHeads
        from hrcam.highres import load_model
        from hrcam.saliency.names import canonical

        if not Path(model_path).is_file():
            raise FileNotFoundError(f"--model {str(model_path)!r}: no .keras file or SavedModel directory")
        model = load_model(model_path)
        # Traceable sources: one graph with the probabilities (the export's heads). Sources that run NumPy
        # code (refined) after it, on the classes that graph resolved.
        traced = [m for m in self.methods if sources.source_class(m).traceable]
        self._heads = ServingHeads(model, heads=traced)
        self._keys = {m: canonical(sources.parse(m)[0])[0] for m in traced}
        self._eager = {
            m: sources.get(m, model, batch_size=self.batch_size) for m in self.methods if m not in self._keys
        }
        self.input_size = tuple(self._heads.input_shape[:2])

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        import tensorflow as tf

        if self._signature is not None:
            out = self._signature(
                images=tf.constant(images, tf.uint8), class_index=tf.fill([len(images)], -1)
            )
            maps = {m: out[m].numpy() for m in self.methods}
            return out["probabilities"].numpy(), out["class_index"].numpy(), maps
        x = tf.cast(tf.constant(images), tf.float32) / 255.0
        out = self._heads.compiled(x, tf.fill([len(images), 1], -1))
        probs, classes = out["probabilities"].numpy(), out["class_index"].numpy()
        maps = {m: out[key].numpy() for m, key in self._keys.items()}
        for m, source in self._eager.items():
            maps[m] = source.run(images, classes).maps
        return probs, classes, {self.labels[m]: maps[m] for m in self.methods}
