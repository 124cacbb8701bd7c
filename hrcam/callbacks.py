"""Keras callbacks that run map sources: :class:`MapSummaries`, maps in TensorBoard during training.

Every ``every`` epochs, the maps of a fixed set of images from any map source of :mod:`hrcam.sources` (by
name, for the true class, the predicted class or every class), each drawn over its image in hrcam's one
colour convention (:mod:`hrcam.plotting.colors`), go to TensorBoard as image summaries. It works with any
``model.fit``::

    from hrcam.callbacks import MapSummaries

    model.fit(train, epochs=10, callbacks=[MapSummaries(x_val[:4], ["gradcam", "cam"], log_dir="logs/maps")])

and every hrcam trainer (HalfModel stage 1, FullModel stage 2, CASM, the Explainer and its classifier) writes
it when given a hook, :func:`summaries_hook` or :func:`hook_from_config` (the trainers sit below
:mod:`hrcam.sources`, so they take the hook from their caller, see :mod:`hrcam.training.summaries`); the
``hrcam train-*`` commands and ``hrcam demo`` read the ``summaries`` config section (``--map-summaries N``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP, check_cmap
from hrcam.plotting.overlays import overlay
from hrcam.training.summaries import MapSubject, MapSummaryHook

__all__ = ["MapSummaries", "summaries_hook", "hook_from_config", "first_images", "TARGETS"]

TARGETS = ("label", "predicted", "all")
MAX_CLASSES = 32  # targets="all" writes one summary per class: more is unreadable (pass a list of classes)


def first_images(data: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``n`` images of ``data`` and their labels (None when unknown).

    ``data``: an (N, H, W, C) array, an ``(images, labels)`` pair, or a ``tf.data.Dataset`` / iterable of
    batches (``images`` or ``(images, labels, ...)``). One-hot labels become class indices; labels that are
    not one class per image (multi-hot) are kept as they are.
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (int, float)):
        images, labels = np.asarray(data[0])[:n], None if data[1] is None else np.asarray(data[1])[:n]
    elif isinstance(data, np.ndarray) or tf.is_tensor(data):
        images, labels = np.asarray(data)[:n], None
    else:
        xs, ys, count = [], [], 0
        for batch in data:
            x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
            xs.append(np.asarray(x))
            ys.append(None if y is None or isinstance(y, dict) else np.asarray(y))
            count += len(xs[-1])
            if count >= n:
                break
        if not xs:
            raise ValueError("`images`: the dataset is empty")
        images = np.concatenate(xs)[:n]
        labels = None if any(y is None for y in ys) else np.concatenate(ys)[:n]
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"`images` must hold (N, H, W, C) images, got shape {images.shape}")
    if labels is not None and labels.ndim == 2:
        one_hot = np.all(np.isin(labels, (0, 1))) and np.all(labels.sum(1) == 1)
        labels = labels.argmax(1) if one_hot else labels
    return images, labels


def _tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", str(text)) or "_"


class MapSummaries(keras.callbacks.Callback):
    """Write the maps of fixed images to TensorBoard every ``every`` epochs (see the module docstring).

    Args:
        images: the images to explain (the first ``max_images``): (N, H, W, C) uint8 or float in [0, 1], an
            ``(images, labels)`` pair, or a ``tf.data.Dataset`` of ``(images, labels)`` batches.
        sources: map sources: a spec of :mod:`hrcam.sources` (``"gradcam"``, ``"rise:n_masks=500"``), a list
            of them, or a mapping ``{title: spec, source, or factory(model) -> source}``.
        log_dir: the summary folder.
        every: write after every ``every``-th epoch (and after the last one).
        targets: the class explained: ``"label"`` (the true class where the labels give one per image, else
            the predicted one), ``"predicted"`` (or None), ``"all"`` (one summary per class), an int, or one
            int per image.
        model: what the sources are made on; None: the model being fitted.
        source_options: options for the sources made from specs (each gets the ones it takes, e.g. a CASM
            ``masker`` or an Explainer ``network``).
        class_names: names for the per-class tags and descriptions.
        cmap, alpha: the overlays' colour map and weight (hrcam's convention by default).
        name: the tag prefix: ``{name}/images``, ``{name}/{source}`` (``{name}/{source}/{class}`` with
            ``"all"``).

    Steps are epoch indices (0-based, as Keras' TensorBoard callback logs epochs). ``seconds`` holds the
    time spent writing.
    """

    def __init__(
        self,
        images: Any,
        sources: str | Sequence[str] | Mapping[str, Any] = "gradcam",
        log_dir: str | Path = "logs/maps",
        every: int = 1,
        targets: Any = "label",
        model: Any = None,
        source_options: Mapping[str, Any] | None = None,
        class_names: Sequence[str] | None = None,
        max_images: int = 8,
        cmap: str = DEFAULT_CMAP,
        alpha: float = DEFAULT_ALPHA,
        name: str = "maps",
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive int (epochs), got {every!r}")
        if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
            raise ValueError(f"`max_images` must be a positive int, got {max_images!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}")
        if isinstance(targets, str) and targets not in TARGETS:
            raise ValueError(f"`targets` must be one of {TARGETS}, None, an int or ints, got {targets!r}")
        self.images, self.labels = first_images(images, max_images)
        self.specs = self._titles(sources)
        self.log_dir, self.every, self.targets = Path(log_dir), every, targets
        self.explained, self.source_options = model, dict(source_options or {})
        self.class_names = list(class_names) if class_names is not None else None
        self.cmap, self.alpha, self.name, self.batch_size = check_cmap(cmap), float(alpha), name, batch_size
        self.seconds, self.writes = 0.0, 0
        self._made: dict[str, Any] | None = None
        self._writer = None
        self._images_written = False

    @staticmethod
    def _titles(sources: Any) -> dict[str, Any]:
        if isinstance(sources, Mapping):
            out = {str(k): v for k, v in sources.items()}
        else:
            from hrcam.sources import label

            items = [sources] if isinstance(sources, str) else list(sources)
            out = {}
            for spec in items:
                if not isinstance(spec, str):
                    raise TypeError(f"`sources` must be specs (str) or a mapping, got {type(spec).__name__}")
                title, i = label(spec), 1
                while title in out:
                    title, i = f"{label(spec)}_{i}", i + 1
                out[title] = spec
        if not out:
            raise ValueError("`sources` is empty: name at least one map source (e.g. 'gradcam')")
        return out

    def sources(self) -> dict[str, Any]:
        """The map sources by title, made on first use (on ``model``, or the model being fitted)."""
        if self._made is None:
            from hrcam import sources as registry

            model = self.explained if self.explained is not None else self.model
            made = {}
            for title, spec in self.specs.items():
                if isinstance(spec, str):
                    accepted = registry.option_names(spec)
                    options = {k: v for k, v in self.source_options.items() if k in accepted}
                    options.setdefault("batch_size", self.batch_size)
                    made[title] = registry.get(spec, model, **options)
                elif hasattr(spec, "run"):
                    made[title] = spec
                elif callable(spec):
                    made[title] = spec(model)
                else:
                    raise TypeError(
                        f"source {title!r}: expected a spec, a map source or a factory, got {spec!r}"
                    )
            self._made = made
        return self._made

    def _targets(self, source: Any) -> Any:
        t = self.targets
        if t == "label":
            return self.labels if self.labels is not None and self.labels.ndim == 1 else None
        if t == "all":
            c = int(source.num_classes)
            if c > MAX_CLASSES:
                raise ValueError(
                    f"`targets='all'` writes one summary per class; the model has {c} (at most "
                    f"{MAX_CLASSES}): pass a list of classes"
                )
            return np.tile(np.arange(c), (len(self.images), 1))
        return None if t == "predicted" else t

    def _class_name(self, c: int) -> str:
        return self.class_names[c] if self.class_names and 0 <= c < len(self.class_names) else str(c)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        last = (self.params or {}).get("epochs")
        if (epoch + 1) % self.every == 0 or (last is not None and epoch + 1 == last):
            self.write(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, step: int) -> None:
        """Write the images (the first time) and every source's overlays at ``step``."""
        start = time.perf_counter()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        x, n = self.images, len(self.images)
        with self._writer.as_default():
            if not self._images_written:
                shown = x if x.dtype == np.uint8 else np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
                tf.summary.image(f"{self.name}/images", shown[..., :3], step=step, max_outputs=n)
                self._images_written = True
            for title, source in self.sources().items():
                res = source.run(x, self._targets(source))
                maps = np.asarray(res.maps, np.float32)
                maps = maps[:, None] if maps.ndim == 3 else maps
                classes = np.asarray(res.classes).reshape(n, -1)
                per_class = self.targets == "all" and getattr(source, "per_class", True)
                preds = np.asarray(res.preds).argmax(-1)
                for j in range(maps.shape[1] if per_class else 1):
                    drawn = np.stack([overlay(x[i], maps[i, j], self.alpha, self.cmap) for i in range(n)])
                    tag = f"{self.name}/{_tag(title)}"
                    if per_class:
                        tag += f"/{_tag(self._class_name(int(classes[0, j])))}"
                    lines = [
                        f"image {i}: map of {self._class_name(int(classes[i, j]))}, predicted "
                        f"{self._class_name(int(preds[i]))}"
                        + (f", true {self._class_name(int(self.labels[i]))}" if self._single_labels() else "")
                        for i in range(n)
                    ]
                    description = (
                        f"map source {title}, colour map {self.cmap} (0 dark, 1 bright); " + "; ".join(lines)
                    )
                    tf.summary.image(tag, drawn, step=step, max_outputs=n, description=description)
        self._writer.flush()
        self.writes += 1
        self.seconds += time.perf_counter() - start

    def _single_labels(self) -> bool:
        return self.labels is not None and self.labels.ndim == 1


def summaries_hook(
    every: int = 1,
    sources: Sequence[str] | None = None,
    images: int = 4,
    target: str = "label",
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
) -> MapSummaryHook:
    """A hook for hrcam's trainers (``map_summaries=``): each stage writes :class:`MapSummaries` of its first
    ``images`` validation images to ``RUN_DIR/logs/<stage>/maps`` every ``every`` epochs, from ``sources``
    (None: the stage's own map, see :class:`hrcam.training.summaries.MapSubject`)."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"`every` must be a positive int (epochs), got {every!r}")
    if target not in TARGETS:
        raise ValueError(f"`target` must be one of {TARGETS}, got {target!r}")
    check_cmap(cmap)

    def hook(subject: MapSubject) -> MapSummaries:
        return MapSummaries(
            subject.validation,
            list(sources) if sources else subject.default_source,
            log_dir=Path(subject.log_dir) / "maps",
            every=every,
            targets=target,
            model=subject.model,
            source_options=subject.options,
            class_names=subject.class_names,
            max_images=images,
            cmap=cmap,
            alpha=alpha,
        )

    return hook


def hook_from_config(section: Any) -> MapSummaryHook | None:
    """The hook of a ``summaries`` config section (:class:`hrcam.config.MapSummariesConfig`); None when it is
    off (``every: 0``)."""
    if section is None or not section.every:
        return None
    return summaries_hook(section.every, section.sources or None, section.images, section.target)
