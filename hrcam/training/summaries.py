"""The map-summary hook every hrcam trainer takes: maps in TensorBoard during training, from any map source.

The trainers live in the family folders, below :mod:`hrcam.sources` (which makes every map source and so
imports every family); the callback that runs sources by name, :class:`hrcam.callbacks.MapSummaries`, lives
above it. So a trainer does not make the callback: it takes a *hook* from its caller and hands it a
:class:`MapSubject`, what the family knows and the layer above does not (the model being trained, the
options that make the family's own map of it, the validation images, the log folder)::

    train_half(config, train_ds, val_ds, num_classes, map_summaries=hook)  # hook(subject) -> a callback

:func:`hrcam.callbacks.summaries_hook` (or ``hrcam.callbacks.hook_from_config(config.summaries)``) makes
such a hook; the ``hrcam train-*`` commands and ``hrcam demo`` pass it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MapSubject", "MapSummaryHook", "summary_callbacks"]


@dataclass(frozen=True)
class MapSubject:
    """What a trainer hands to a map-summary hook.

    Attributes:
        model: what the map sources are made on (``hrcam.sources.get(spec, model, **options)``): the model
            being trained (a HalfModel, a FullModel, a Keras classifier) or the classifier it explains.
        options: source options that make the family's own map of the model being trained (a CASM
            trainer's ``{"masker": masker}``, an Explainer trainer's ``{"network": explainer}``); a source
            gets only the options it takes.
        default_source: the family's own map source (``cam``, ``high_res_cam``, ``casm``, ``explainer``,
            ``gradcam``), used when the hook names none.
        log_dir: the stage's TensorBoard folder (``RUN_DIR/logs/<stage>``).
        validation: the validation data: a ``tf.data.Dataset`` of ``(images, labels)`` batches, or an
            ``(images, labels)`` pair of arrays.
        class_names: the class names (summary tags), or None.
    """

    model: Any
    default_source: str
    log_dir: Path
    validation: Any
    options: Mapping[str, Any] = field(default_factory=dict)
    class_names: Sequence[str] | None = None


MapSummaryHook = Callable[[MapSubject], Any]
"""``hook(subject) -> keras.callbacks.Callback | None`` (None: no summaries for this stage)."""


def summary_callbacks(hook: MapSummaryHook | None, subject: MapSubject) -> list[Any]:
    """``[hook(subject)]``, or ``[]`` without a hook or when the hook gives None."""
    if hook is None:
        return []
    if not callable(hook):
        raise TypeError(
            f"`map_summaries` must be a callable hook(subject) or None, got {type(hook).__name__}"
        )
    callback = hook(subject)
    return [] if callback is None else [callback]
