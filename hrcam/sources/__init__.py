"""Every map hrcam makes, by name: the one registry of map sources.

    >>> from hrcam import sources
    >>> src = sources.get("gradcam", model)                     # a Keras classifier, HalfModel, FullModel
    >>> src = sources.get("high_res_cam", "run/full/best.keras")     # a model file works too
    >>> src = sources.get("casm:masker=run/casm/best.keras")         # a trained source, made from its file
    >>> src = sources.get("explainer:model=E.keras", classifier)     # the Explainer needs its classifier
    >>> res = src.run(images, targets=None)    # SaliencyResult: preds (B, C), classes (B, k), maps (B, H, W)
    >>> preds, maps = src(images)             # the seed's call
    >>> res = src.compute(x, classes)         # tensors, inside a tf.function (serving heads, extract)

Every source is a :class:`~hrcam.saliency.base.SaliencyMethod`: one call contract and one result type
(:class:`~hrcam.saliency.SaliencyResult`: predictions, resolved classes, maps (B, [k,] H, W) at the input's
size, captured tensors), so every consumer (``hrcam score``, ``evaluate``, ``extract``, ``export --heads``,
``explain``, COSE, the plots) takes any of them by name. Names and aliases are in one table
(:mod:`hrcam.saliency.names`); :data:`SOURCES` says what each needs, what it costs and where it comes from.

A spec is ``NAME`` or ``NAME:key=value,key=value`` (values read as YAML scalars), e.g.
``"guided_cam:source=gradcam"``, ``"rise:n_masks=2000,seed=0"``; for a trained source ``model=FILE`` names
its file (``casm:model=M.keras`` = ``casm:masker=M.keras``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrcam.saliency.names import CANONICAL, canonical

__all__ = [
    "SOURCES",
    "SourceInfo",
    "available",
    "get",
    "info",
    "label",
    "option_names",
    "parse",
    "source_class",
    "split_specs",
]


@dataclass(frozen=True)
class SourceInfo:
    """One registered map source.

    Attributes:
        name: canonical name. target: ``"module:Class"`` of its :class:`SaliencyMethod` subclass.
        seed: the code base it comes from. needs: what it is made from. cost: time for a batch, relative to
            the classifier's forward pass (from BENCHMARKS.md, measured on CPU). takes: ``"classifier"``
            (made on the plain Keras classifier of the model), ``"hrcam"`` (the HalfModel / FullModel
            itself) or ``"any"`` (the model as given, possibly None). file_option: the option naming a
            trained source's file (``model=FILE`` in a spec is read as it). preset: fixed options.
            defaults: ``"module:function"``, ``function(model) -> options`` the source takes unless given
            (e.g. MultiLayerCAM's layers for hrcam's DenseNet-FCN).
    """

    name: str
    target: str
    seed: str
    needs: str
    cost: str
    takes: str = "classifier"
    file_option: str | None = None
    preset: dict[str, Any] = field(default_factory=dict)
    defaults: str | None = None


_SALIENCY = "pytorch-saliency / Grad-CAM"
SOURCES: dict[str, SourceInfo] = {
    s.name: s
    for s in (
        SourceInfo("cam", "hrcam.saliency.cam:CAM", "HR-CAM (low-res CAM)", "a GAP + Dense classifier", "1x"),
        SourceInfo("gradcam", "hrcam.saliency.gradcam:GradCAM", _SALIENCY, "any CNN classifier", "1.0-1.1x"),
        SourceInfo(
            "gradcam_plus_plus",
            "hrcam.saliency.gradcam_plus_plus:GradCAMPlusPlus",
            _SALIENCY,
            "any CNN classifier",
            "1.0-1.1x",
        ),
        SourceInfo("layercam", "hrcam.saliency.layercam:LayerCAM", "COSE", "any CNN classifier", "1.0-1.1x"),
        SourceInfo(
            "multilayer_cam",
            "hrcam.saliency.multilayer_cam:MultiLayerCAM",
            "HR-CAM (multi-layer)",
            "a CNN (layers found for hrcam's DenseNet-FCN)",
            "about 1.1x",
            defaults="hrcam.highres.densenet_fcn:multilayer_defaults",
        ),
        SourceInfo(
            "attention_rollout",
            "hrcam.saliency.attention_rollout:AttentionRollout",
            "vision transformers (Abnar & Zuidema 2020)",
            "a ViT with keras MultiHeadAttention layers (or layers=[attention weights])",
            "not measured",
        ),
        SourceInfo(
            "gradients", "hrcam.saliency.gradients:Gradients", _SALIENCY, "any classifier", "about 2x"
        ),
        SourceInfo(
            "guided_backprop",
            "hrcam.saliency.guided_backprop:GuidedBackprop",
            _SALIENCY,
            "a Functional classifier (ReLUs)",
            "about 2x",
        ),
        SourceInfo(
            "guided_gradcam",
            "hrcam.saliency.guided_gradcam:GuidedGradCAM",
            _SALIENCY,
            "a Functional CNN classifier",
            "about 2x",
        ),
        SourceInfo(
            "smoothgrad", "hrcam.saliency.smoothgrad:SmoothGrad", "COSE", "any classifier", "~2.5x per sample"
        ),
        SourceInfo(
            "integrated_gradients",
            "hrcam.saliency.integrated_gradients:IntegratedGradients",
            "COSE",
            "any classifier",
            "2x per step",
        ),
        SourceInfo("blur_ig", "hrcam.saliency.blur_ig:BlurIG", "COSE", "any 2D classifier", "not measured"),
        SourceInfo(
            "guided_ig", "hrcam.saliency.guided_ig:GuidedIG", "COSE", "any classifier", "not measured"
        ),
        SourceInfo(
            "scorecam", "hrcam.saliency.scorecam:ScoreCAM", "COSE", "any CNN classifier", "1x per channel"
        ),
        SourceInfo(
            "rise", "hrcam.saliency.rise:RISE", "Explainer (baseline)", "any classifier", "1x per mask"
        ),
        SourceInfo(
            "lime",
            "hrcam.saliency.lime:LIME",
            "COSE",
            "any 2D classifier; superpixels on the CPU, not a serving head",
            "not measured",
        ),
        SourceInfo(
            "extremal_perturbation",
            "hrcam.saliency.extremal_perturbation:ExtremalPerturbation",
            "Explainer (baseline)",
            "any 2D classifier of a fixed input size",
            "not measured",
        ),
        SourceInfo(
            "igos_pp",
            "hrcam.saliency.igos_pp:IGOSPlusPlus",
            "Explainer (baseline)",
            "any 2D classifier of a fixed input size",
            "not measured",
        ),
        SourceInfo(
            "guided_cam",
            "hrcam.saliency.guided_cam:GuidedCAM",
            "HR-CAM (guided up-sampling)",
            "a GAP + Dense classifier",
            "not measured (CAM + a guided filter)",
        ),
        SourceInfo(
            "high_res_cam",
            "hrcam.highres.sources:HighResCAM",
            "HR-CAM (expansion network)",
            "a FullModel",
            "1.8x (distil) - 2.5x (paper)",
            takes="hrcam",
        ),
        SourceInfo(
            "refined",
            "hrcam.highres.sources:Refined",
            "HR-CAM (region growing)",
            "a HalfModel or FullModel; not a serving head",
            "the maps + ~3.5 ms/image of CPU",
            takes="hrcam",
        ),
        SourceInfo(
            "casm",
            "hrcam.casm.source:CasmMasks",
            "CASM",
            "a trained masker file (casm:masker=M.keras)",
            "1x + decoder (<= 1.25x)",
            takes="any",
            file_option="masker",
        ),
        SourceInfo(
            "explainer",
            "hrcam.explainer.source:ExplainerMasks",
            "Explainer",
            "an Explainer file (explainer:model=E.keras) and its classifier",
            "1.2x (all classes)",
            takes="any",
            file_option="network",
        ),
        SourceInfo(
            "center", "hrcam.saliency.baselines:Center", "baseline", "any classifier", "1x (predictions)"
        ),
        SourceInfo(
            "zeros",
            "hrcam.saliency.baselines:Constant",
            "baseline",
            "any classifier",
            "1x",
            preset={"value": 0.0},
        ),
        SourceInfo(
            "ones",
            "hrcam.saliency.baselines:Constant",
            "baseline",
            "any classifier",
            "1x",
            preset={"value": 1.0},
        ),
    )
}
assert tuple(SOURCES) == CANONICAL, "hrcam.saliency.names.CANONICAL and SOURCES list the same sources"


def available() -> list[str]:
    """The canonical names of every map source."""
    return list(SOURCES)


def info(name: str) -> SourceInfo:
    """The :class:`SourceInfo` of a name or alias (ValueError for an unknown one)."""
    return SOURCES[canonical(parse(name)[0])[0]]


def source_class(spec: str) -> type:
    """The :class:`~hrcam.saliency.base.SaliencyMethod` subclass of a spec (imports its module)."""
    module, cls = info(spec).target.split(":")
    return getattr(importlib.import_module(module), cls)


def option_names(spec: str) -> set[str]:
    """The keyword options the source of ``spec`` takes (the base's and its own)."""
    import inspect

    cls = source_class(spec)
    params = set()
    for klass in cls.__mro__[:-1]:  # not object
        if "__init__" in vars(klass):
            params |= set(inspect.signature(klass.__init__).parameters)
    return (params | set(cls.options)) - {"self", "model", "options", "kwargs"}


def parse(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` -> ``(name, {key: value})``, values read as YAML scalars.

    Raises:
        TypeError: not a string. ValueError: an option that does not read ``key=value``.
    """
    import yaml

    if not isinstance(spec, str):
        raise TypeError(f"a map source must be named by a string, got {type(spec).__name__}")
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (i.strip() for i in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"map source options must read NAME:key=value,key=value; got {spec!r}")
        options[key.strip()] = yaml.safe_load(value)
    return name.strip(), options


def split_specs(specs: Sequence[str] | str) -> list[str]:
    """``"cam,casm:masker=m.keras,normalize=false,gradcam"`` -> ``["cam",
    "casm:masker=m.keras,normalize=false", "gradcam"]``: commas separate specs, except before a
    ``key=value`` that continues a spec's options."""
    if not isinstance(specs, str):
        items = list(specs)
        if not all(isinstance(h, str) for h in items):
            raise TypeError(f"map source specs must be strings, got {[type(h).__name__ for h in items]}")
        return items
    out: list[str] = []
    for token in (t.strip() for t in specs.split(",")):
        if not token:
            continue
        if out and ":" in out[-1] and "=" in token and ":" not in token.split("=")[0]:
            out[-1] = f"{out[-1]},{token}"
        else:
            out.append(token)
    return out


def label(spec: str) -> str:
    """The canonical name of a spec (``"casm:masker=m.keras"`` -> ``"casm"``): a key for files and outputs."""
    return canonical(parse(spec)[0])[0]


def _load_model(model: Any) -> Any:
    if isinstance(model, (str, Path)):
        from hrcam.highres.loading import load_model

        return load_model(model)
    return model


def get(spec: str, model: Any = None, **options: Any):
    """Make the map source named by ``spec`` on ``model``.

    Args:
        spec: a name from :func:`available`, an alias, or ``NAME:key=value,...`` (see the module docstring).
        model: the classifier: a ``keras.Model``, HalfModel, FullModel or a ``.keras`` path; ``None`` only for
            sources that carry their own classifier (``casm``).
        **options: the source's options (they override the spec's), e.g. ``batch_size``, ``normalize``,
            ``layer``, ``n_masks``.

    Returns:
        The source (a :class:`~hrcam.saliency.base.SaliencyMethod`): ``source.run(x, targets)``,
        ``source(x, target_class)``, ``source.compute(images, classes)``.

    Raises:
        ValueError: unknown name or option values, a model the source cannot use (e.g. ``high_res_cam`` on a
            HalfModel), a missing file option. TypeError: unknown option names.
    """
    name, spec_options = parse(spec)
    key, alias_preset = canonical(name)
    entry = SOURCES[key]
    if entry.file_option and "model" in spec_options:
        spec_options[entry.file_option] = spec_options.pop("model")
    merged = {**entry.preset, **alias_preset, **spec_options, **options}
    model = _load_model(model)
    if model is None and entry.takes != "any":
        raise ValueError(f"map source {key!r} needs a model (the classifier it explains)")
    if entry.takes == "classifier":
        from hrcam.highres.loading import classifier_of

        model = classifier_of(model)
    if entry.defaults:
        module, fn = entry.defaults.split(":")
        merged = {**getattr(importlib.import_module(module), fn)(model), **merged}
    return source_class(key)(model, **merged)
