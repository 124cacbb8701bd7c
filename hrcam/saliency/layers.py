"""Model introspection for the saliency methods: the layer for CAM methods, pre-softmax scores, GAP + Dense.

* :func:`find_layer` resolves ``layer=`` (a name, a path ``"backbone/conv"``, a layer, or ``None`` = the last
  layer with a 4-D output, 5-D in 3D mode).
* :func:`find_score_source` finds the pre-softmax scores (the input of a final Softmax/Activation layer, or
  the linear part of a Dense/Conv layer whose activation is softmax/sigmoid).
* :func:`find_cam_head` walks back from the scores' Dense layer through the global average pooling to the
  feature tensor, for CAM.

The graph runner lives in :mod:`hrcam.saliency.graph` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import keras

from hrcam.saliency.graph import (
    GraphRunner,
    activation_name,
    conv_layer_types,
    graph_of,
    guided_identity,
    is_guided_relu,
    iter_nodes,
    producer,
    supports_linear_part,
)
from hrcam.saliency.tokens import TokenGrid, find_token_layer, input_hw, token_grid

__all__ = [
    "GraphRunner",
    "LayerRef",
    "ScoreSource",
    "CamHead",
    "graph_of",
    "iter_nodes",
    "find_layer",
    "find_score_source",
    "find_cam_head",
    "is_guided_relu",
    "guided_identity",
    "conv_layer_types",
    "classifier_output",
]

_SQUASH_NAMES = {"softmax", "sigmoid"}
# global average pooling over feature maps, volumes and (vision transformers) tokens
_GAP_LAYERS = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.GlobalAveragePooling1D,
)
# Layers that pass features through unchanged at inference (between GAP and Dense in CAM heads).
_PASSTHROUGH = (keras.layers.Dropout, keras.layers.Flatten, keras.layers.Identity, keras.layers.GaussianNoise)


# ------------------------------------------------------------------------------------------------
# Finding the layer
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LayerRef:
    """A layer chosen for a CAM method.

    Attributes:
        path: ``"layer"`` or ``"backbone/layer"`` for a layer inside a nested model.
        layer: the layer object.
        tensor: its symbolic output (KerasTensor) in the graph that calls it (the last call if shared).
        tokens: for a token layer (B, N, C) of a vision transformer, how its tokens form the feature map
            (:class:`~hrcam.saliency.tokens.TokenGrid`); ``None`` for a feature map.
    """

    path: str
    layer: Any
    tensor: Any
    tokens: TokenGrid | None = None

    def spatial(self, t: Any) -> Any:
        """The layer's output (or a gradient w.r.t. it, with extra leading axes) as a feature map: token
        layers (..., N, C) -> (..., h, w, C); feature maps unchanged."""
        return t if self.tokens is None else self.tokens.to_spatial(t)


def _rank_name(rank: int) -> str:
    return {4: "4-D (batch, h, w, channels)", 5: "5-D (batch, d, h, w, channels)"}.get(rank, f"{rank}-D")


def _candidates(model: Any, rank: int) -> list[LayerRef]:
    """Every leaf layer node whose (single) output has the given rank, in execution order."""
    out: dict[int, LayerRef] = {}
    order: list[int] = []
    for path, node in iter_nodes(model):
        op = node.operation
        if len(node.outputs) != 1 or node.outputs[0].shape is None:
            continue
        if len(node.outputs[0].shape) != rank:
            continue
        key = id(op)
        if key in out:
            order.remove(key)
        out[key] = LayerRef(path=path, layer=op, tensor=node.outputs[0])
        order.append(key)
    return [out[k] for k in order]


def _describe_candidates(cands: list[LayerRef], limit: int = 12) -> str:
    names = [c.path for c in cands]
    if not names:
        return "(none)"
    shown = names[-limit:]
    more = f" ... ({len(names) - limit} earlier ones not shown)" if len(names) > limit else ""
    return ", ".join(repr(n) for n in shown) + more


def find_layer(
    model: keras.Model,
    layer: str | keras.layers.Layer | None,
    rank: int | None = 4,
    grid: tuple[int, int] | None = None,
) -> LayerRef:
    """Resolve ``layer`` to the layer whose output a CAM method uses.

    Args:
        model: a Functional or built Sequential model (nested models are searched too).
        layer: a layer name, a path ``"outer/inner"``, a ``keras.layers.Layer`` of the model, or ``None``
            for the last leaf layer with a ``rank``-D output (4: images, 5: volumes), also in nested models.
            With ``rank=4`` a token layer (B, N, C) of a vision transformer counts as a feature map (see
            :mod:`hrcam.saliency.tokens`): ``None`` picks one when the classifier's head reads tokens.
        rank: the required output rank, batch axis included; ``None`` = any rank (a named layer only, e.g.
            for ``capture=``).
        grid: the (h, w) patch grid of a token layer (its first N - h * w tokens are dropped); ``None`` =
            inferred from N and the input's aspect ratio.

    Raises:
        ValueError: no graph, no convolutional layer (auto mode), unknown name (lists the candidate layers),
            or a layer whose output has the wrong rank.
        TypeError: ``layer`` is neither None, a string nor a Layer.
    """
    if graph_of(model) is None:
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} is not a Functional or Sequential model built on "
            "keras.Input; CAM methods need its graph to reach an inner layer"
        )
    cands = [c for c in _candidates(model, rank or 4) if graph_of(c.layer) is None]
    if layer is None and rank == 4:
        found = find_token_layer(model, grid)
        if found is not None:
            return LayerRef(*found)
    if layer is None:
        convs = conv_layer_types()
        has_conv = any(isinstance(n.operation, convs) for _, n in iter_nodes(model))
        if not cands or not has_conv:
            raise ValueError(
                f"model {model.name!r} has no convolutional layer with a {_rank_name(rank)} output to take "
                f"maps from; pass layer=<name of a layer with a {_rank_name(rank)} output> explicitly"
                + ("" if not cands else f" (layers with such outputs: {_describe_candidates(cands)})")
            )
        return cands[-1]
    all_nodes = list(iter_nodes(model))
    if isinstance(layer, str):
        matches = [(p, n) for p, n in all_nodes if p == layer]
        if not matches:
            matches = [(p, n) for p, n in all_nodes if n.operation.name == layer]
        if not matches:
            raise ValueError(
                f"`layer`={layer!r} is not a layer of model {model.name!r}; candidate layers with a "
                f"{_rank_name(rank)} output: {_describe_candidates(cands)}"
            )
    elif isinstance(layer, keras.layers.Layer):
        matches = [(p, n) for p, n in all_nodes if n.operation is layer]
        if not matches:
            raise ValueError(
                f"`layer`={layer.name!r} (a {type(layer).__name__}) is not part of model {model.name!r}; "
                f"candidate layers: {_describe_candidates(cands)}"
            )
    else:
        raise TypeError(
            f"`layer` must be None, a layer name or a keras.layers.Layer, got {type(layer).__name__}"
        )
    path, node = matches[-1]
    if rank == 4 and len(node.outputs) == 1 and len(node.outputs[0].shape) == 3:
        tokens = token_grid(node.outputs[0].shape[1], input_hw(model), grid)
        if tokens is not None:
            return LayerRef(path=path, layer=node.operation, tensor=node.outputs[0], tokens=tokens)
    if len(node.outputs) != 1 or (rank is not None and len(node.outputs[0].shape) != rank):
        shapes = [tuple(o.shape) for o in node.outputs]
        raise ValueError(
            f"`layer`={path!r} has output shape(s) {shapes}; a {_rank_name(rank)} output is needed "
            + ("(or tokens (batch, N, channels) on a grid: pass token_grid=(h, w)) " if rank == 4 else "")
            + f"(candidates: {_describe_candidates(cands)})"
        )
    return LayerRef(path=path, layer=node.operation, tensor=node.outputs[0])


# ------------------------------------------------------------------------------------------------
# Scores and the CAM head
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScoreSource:
    """Where the class scores come from.

    Attributes:
        tensor: the KerasTensor holding the scores (pre-softmax when found), or ``None`` for the model output
            of an opaque model.
        linear_layer: a Dense/Conv layer whose *pre-activation* output is the score (its activation was
            softmax/sigmoid); then ``tensor`` is that layer's output.
        description: human-readable origin, e.g. ``"input of softmax layer 'probabilities'"``.
    """

    tensor: Any
    linear_layer: Any = None
    description: str = "model output"


def _is_squash_layer(op: Any) -> bool:
    if isinstance(op, keras.layers.Softmax):
        return True
    name = type(op).__name__.lower()
    if name in _SQUASH_NAMES and not isinstance(op, keras.layers.Layer):
        return True  # keras.ops.softmax / sigmoid applied symbolically
    return isinstance(op, keras.layers.Activation) and activation_name(op) in _SQUASH_NAMES


def classifier_output(model: keras.Model, output: str | int | None = None) -> tuple[Any, int]:
    """The model output holding the class scores: ``(KerasTensor, index in model.outputs)``.

    Args:
        model: a Functional or Sequential model.
        output: ``None`` (the model must have one output), a key of a dict-output model (e.g. a FullModel's
            ``"probabilities"``) or an index into ``model.outputs``.

    Raises:
        ValueError: several outputs and no ``output``, an unknown key/index, or an output that is not
            (batch, classes).
    """
    outputs = list(model.outputs)
    if output is None:
        if len(outputs) != 1:
            raise ValueError(
                f"model {model.name!r} has {len(outputs)} outputs; saliency methods need one "
                "(batch, classes) output (or pass output=<key or index> for the class scores)"
            )
        t = outputs[0]
    elif isinstance(output, str):
        struct = model.output
        if not isinstance(struct, dict) or output not in struct:
            keys = sorted(struct) if isinstance(struct, dict) else "(not a dict)"
            raise ValueError(f"`output`={output!r} is not an output key of model {model.name!r}: {keys}")
        t = struct[output]
    elif isinstance(output, int) and not isinstance(output, bool) and 0 <= output < len(outputs):
        t = outputs[output]
    else:
        raise ValueError(
            f"`output` must be None, an output key or an index below {len(outputs)}, got {output!r}"
        )
    if len(t.shape) != 2:
        raise ValueError(
            f"model {model.name!r} output has shape {tuple(t.shape)}; saliency methods need (batch, classes)"
        )
    index = next(i for i, o in enumerate(outputs) if o is t)
    return t, index


def find_score_source(
    model: keras.Model, use_logits: bool = True, output: str | int | None = None
) -> ScoreSource:
    """Find the class scores to differentiate: pre-softmax (or pre-sigmoid) when ``use_logits``.

    Args:
        model: the classifier.
        use_logits: look for pre-softmax / pre-sigmoid scores.
        output: which output holds the class scores (see :func:`classifier_output`).

    Raises:
        ValueError: several outputs (and no ``output``), or an output that is not (batch, classes).
    """
    if graph_of(model) is None:
        return ScoreSource(tensor=None)
    t, _ = classifier_output(model, output)
    if not use_logits:
        return ScoreSource(tensor=t)
    op, node, t_inner = producer(t)
    if _is_squash_layer(op):
        inp = node.input_tensors[0]
        return ScoreSource(tensor=inp, description=f"input of {type(op).__name__} layer {op.name!r}")
    if activation_name(op) in _SQUASH_NAMES:
        if supports_linear_part(op):
            return ScoreSource(
                tensor=t_inner, linear_layer=op, description=f"pre-activation output of {op.name!r}"
            )
        warnings.warn(
            f"the last layer {op.name!r} ({type(op).__name__}) applies {activation_name(op)} internally "
            "and its pre-activation output cannot be recomputed; using its (squashed) output as scores",
            stacklevel=3,
        )
    return ScoreSource(tensor=t_inner, description=f"output of {op.name!r}")


@dataclasses.dataclass(frozen=True)
class CamHead:
    """A global-average-pooling + Dense head: ``scores = GAP(features) @ dense.kernel + dense.bias``."""

    features: Any  # KerasTensor (B, *spatial, K)
    pooling: Any  # the GlobalAveragePooling layer
    dense: Any  # the Dense layer


def find_cam_head(score: ScoreSource) -> CamHead:
    """Walk back from the scores' Dense layer through GlobalAveragePooling to the feature tensor.

    Dropout/Flatten/Identity layers in between are allowed (they are identities at inference).

    Raises:
        ValueError: the scores do not come from GAP + Dense (the message says what was found).
    """
    if score.tensor is None:
        raise ValueError(
            "CAM needs a Functional/Sequential model (its graph), got an opaque subclassed model"
        )
    dense = score.linear_layer
    if dense is None:
        dense, node, _ = producer(score.tensor)
    else:
        _, node, _ = producer(score.tensor)
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(
            f"CAM needs scores from a Dense layer after global average pooling; the scores "
            f"({score.description}) come from {type(dense).__name__} {dense.name!r}. Use GradCAM for other "
            "architectures"
        )
    if activation_name(dense) not in ("", "linear") and score.linear_layer is None:
        raise ValueError(f"CAM needs a linear Dense layer for the scores; {dense.name!r} has an activation")
    t = node.input_tensors[0]
    seen = [dense.name]
    while True:
        op, node, t = producer(t)
        seen.append(op.name)
        if isinstance(op, _GAP_LAYERS):
            if getattr(op, "data_format", "channels_last") != "channels_last":
                raise ValueError(f"CAM supports channels_last pooling only; {op.name!r} is channels_first")
            return CamHead(features=node.input_tensors[0], pooling=op, dense=dense)
        if isinstance(op, _PASSTHROUGH) and len(node.input_tensors) == 1:
            t = node.input_tensors[0]
            continue
        raise ValueError(
            "CAM needs a GlobalAveragePooling1D/2D/3D layer feeding the Dense scores layer; walking back "
            f"from {dense.name!r} found {' <- '.join(repr(s) for s in seen)} ({type(op).__name__}). "
            "Use GradCAM for other architectures"
        )
