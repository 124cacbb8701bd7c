"""Model introspection for the saliency methods: layers, pre-softmax scores, GAP + Dense heads, guided ReLUs.

Everything here works on the *graph* of a Functional (or built Sequential) Keras model, recursing into nested
models (a ``keras.applications`` backbone used as one layer), and never modifies the user's model:

* :class:`GraphRunner` executes the model layer by layer on tensors (as ``Functional.call`` does), capturing
  any intermediate tensor of any nesting depth, letting the caller ``tape.watch`` it the moment it is produced
  (so back-propagation to it only runs through the layers *after* it), and optionally making every ReLU
  "guided" (Springenberg et al.) on the backward pass only.
* :func:`find_layer` resolves ``layer=`` (a name, a path ``"backbone/conv"``, a layer, or ``None`` = the last
  layer with a 4-D output, 5-D in 3D mode).
* :func:`find_score_source` finds the pre-softmax scores (the input of a final Softmax/Activation layer, or
  the linear part of a Dense/Conv layer whose activation is softmax/sigmoid).
* :func:`find_cam_head` walks back from the scores' Dense layer through the global average pooling to the
  feature tensor, for CAM.

Guided backprop without a clone: a ReLU's backward pass is ``dy * 1[x > 0]``; guided backprop replaces it by
``relu(dy) * 1[x > 0]``. Wrapping the ReLU's *output* in an identity whose gradient is ``relu(dy)`` gives
exactly that, also for ReLUs fused into Conv/Dense layers (``activation="relu"``) and for ReLU6
(mask ``0 < x < 6``), while the forward values, the weights and the user's layers stay untouched.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import tensorflow as tf

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
]

_RELU_NAMES = {"relu", "relu6"}
_SQUASH_NAMES = {"softmax", "sigmoid"}
# Layers that pass features through unchanged at inference (between GAP and Dense in CAM heads).
_PASSTHROUGH = (keras.layers.Dropout, keras.layers.Flatten, keras.layers.Identity, keras.layers.GaussianNoise)


def conv_layer_types() -> tuple[type, ...]:
    """The public Keras convolution layer classes (used to tell whether a model is convolutional at all)."""
    names = [
        "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
        "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    ]  # fmt: skip
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


# ------------------------------------------------------------------------------------------------
# Graph access
# ------------------------------------------------------------------------------------------------


def graph_of(model: Any) -> Any | None:
    """The Functional graph behind ``model`` (a Functional model, or a built Sequential), else ``None``."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if (
        isinstance(model, keras.Model)
        and hasattr(model, "_nodes_by_depth")
        and hasattr(model, "_outputs_struct")
    ):
        return model
    return None


def _ordered_nodes(graph: Any) -> list[Any]:
    """The graph's nodes in execution order (deepest first, as ``Functional.call`` runs them)."""
    nodes = []
    for depth in sorted(graph._nodes_by_depth.keys(), reverse=True):
        nodes.extend(graph._nodes_by_depth[depth])
    return nodes


def iter_nodes(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, node)`` for every non-input node in execution order, recursing into nested models.

    A nested model's inner nodes are yielded before the node that calls the nested model itself.
    ``path`` is ``"outer/inner/layer_name"``.
    """
    graph = graph_of(model)
    if graph is None:
        return
    for node in _ordered_nodes(graph):
        op = node.operation
        if op is None or node.is_input:
            continue
        path = f"{prefix}{op.name}"
        if graph_of(op) is not None:
            yield from iter_nodes(op, prefix=path + "/")
        yield path, node


def _history(t: Any) -> tuple[Any, int, int]:
    h = getattr(t, "_keras_history", None)
    if h is None:
        raise ValueError(f"tensor {t!r} has no Keras history (not part of a Functional graph)")
    return h.operation, h.node_index, h.tensor_index


def _producer(t: Any) -> tuple[Any, Any, Any]:
    """``(operation, node, tensor)`` producing KerasTensor ``t``, descending into nested models' outputs."""
    while True:
        op, node_index, tensor_index = _history(t)
        inner = graph_of(op)
        if inner is not None:
            t = inner.outputs[tensor_index]
            continue
        node = op._inbound_nodes[node_index]
        return op, node, t


def _activation_name(op: Any) -> str:
    fn = getattr(op, "activation", None)
    if fn is None:
        return ""
    return str(getattr(fn, "__name__", "")).lower()


def is_guided_relu(op: Any) -> bool:
    """Whether guided backprop treats ``op``'s output as a ReLU: ReLU layers (any max_value/threshold),
    ``Activation("relu"/"relu6")``, layers with ``activation="relu"/"relu6"``, ``keras.ops.relu`` nodes."""
    if graph_of(op) is not None:
        return False
    if type(op).__name__.lower() in _RELU_NAMES:
        return True
    return _activation_name(op) in _RELU_NAMES


@tf.custom_gradient
def guided_identity(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """Identity forward; the backward pass keeps only positive gradients (``relu(dy)``).

    Put after a ReLU, the pair back-propagates ``relu(dy) * 1[x > 0]``: the guided ReLU.
    """

    def grad(dy: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(dy)

    return tf.identity(x), grad


def _linear_part(layer: Any, x: tf.Tensor) -> tf.Tensor:
    """The output of a Dense/Conv layer *before* its activation, from the layer's live weights."""
    if isinstance(layer, keras.layers.Dense):
        out = tf.linalg.matmul(x, tf.convert_to_tensor(layer.kernel)) if x.shape.rank == 2 else None
        if out is None:
            out = tf.tensordot(x, tf.convert_to_tensor(layer.kernel), axes=[[x.shape.rank - 1], [0]])
        if layer.bias is not None:
            out = out + tf.convert_to_tensor(layer.bias)
        return out
    out = layer.convolution_op(x, layer.kernel)
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        out = out + tf.convert_to_tensor(layer.bias)
    return tf.convert_to_tensor(out)


def _supports_linear_part(layer: Any) -> bool:
    if isinstance(layer, keras.layers.Dense):
        return True
    return (
        hasattr(layer, "convolution_op")
        and getattr(layer, "data_format", "channels_last") == "channels_last"
        and hasattr(layer, "kernel")
    )


# ------------------------------------------------------------------------------------------------
# The runner
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    """What one :meth:`GraphRunner.run` produced.

    Attributes:
        outputs: the model outputs, flattened (a list of tensors).
        captured: ``id(KerasTensor) -> tensor`` for every requested capture.
        linear: ``id(layer) -> tensor`` pre-activation outputs of the requested layers.
        guided_after_watch: a guided ReLU was applied downstream of a watched tensor (the gradient w.r.t.
            that tensor is then the guided one, not the plain one).
    """

    outputs: list[tf.Tensor]
    captured: dict[int, tf.Tensor]
    linear: dict[int, tf.Tensor]
    guided_after_watch: bool = False


class GraphRunner:
    """Execute a Keras model layer by layer on tensors (inside a ``tf.function`` or eagerly).

    Equivalent to ``model(x, training=False)`` for Functional and built Sequential models, recursing into
    nested models. Models without a graph (subclassed models) are called as a whole; then nothing inside
    them can be captured.

    Args:
        model: the ``keras.Model``; it is only read, never modified.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.has_graph = graph_of(model) is not None

    def run(
        self,
        x: tf.Tensor,
        *,
        capture: Sequence[Any] = (),
        watch: Sequence[Any] = (),
        linear: Sequence[Any] = (),
        on_watch: Callable[[tf.Tensor], None] | None = None,
        guided: bool = False,
    ) -> RunResult:
        """Run the model on ``x``.

        Args:
            x: the input batch (one input tensor).
            capture: KerasTensors (at any nesting depth) whose values to return.
            watch: KerasTensors passed to ``on_watch`` (e.g. ``tape.watch``) as soon as they are computed;
                they are captured too.
            linear: layers (Dense/Conv) whose pre-activation output to return.
            on_watch: callback for the watched tensors.
            guided: make every ReLU guided on the backward pass.
        """
        state = _RunState(
            capture_ids={id(t) for t in (*capture, *watch)},
            watch_ids={id(t) for t in watch},
            linear_ids={id(layer) for layer in linear},
            on_watch=on_watch,
            guided=guided,
        )
        if not self.has_graph:
            if state.capture_ids or state.linear_ids:
                raise ValueError(
                    f"model {self.model.name!r} is not a Functional or Sequential model with a known graph "
                    "(subclassed models are opaque); intermediate layers cannot be reached"
                )
            out = self.model(x, training=False)
            return RunResult(
                outputs=[tf.convert_to_tensor(o) for o in tf.nest.flatten(out)], captured={}, linear={}
            )
        outputs, _ = self._run_graph(self.model, [x], [False], state)
        return RunResult(
            outputs=outputs,
            captured=state.captured,
            linear=state.linear,
            guided_after_watch=state.guided_after_watch,
        )

    def _run_graph(
        self, model: Any, inputs: list[Any], taint_in: list[bool], state: _RunState
    ) -> tuple[list[Any], list[bool]]:
        graph = graph_of(model)
        if hasattr(graph, "_standardize_inputs"):
            inputs = list(graph._standardize_inputs(inputs if len(inputs) > 1 else inputs[0]))
        values: dict[int, Any] = {}
        taint: dict[int, bool] = {}
        for kt, v, t in zip(graph.inputs, inputs, taint_in, strict=True):
            values[id(kt)] = v
            taint[id(kt)] = t
        for node in _ordered_nodes(graph):
            op = node.operation
            if op is None or node.is_input:
                continue
            in_tensors = node.input_tensors
            if any(id(t) not in values for t in in_tensors):
                continue  # not computable from these inputs (as in Functional._run_through_graph)
            in_taint = any(taint[id(t)] for t in in_tensors)
            if graph_of(op) is not None:
                sub_in = [values[id(t)] for t in in_tensors]
                flat_out, out_taint = self._run_graph(op, sub_in, [taint[id(t)] for t in in_tensors], state)
            else:
                args, kwargs = node.arguments.fill_in(values)
                if "training" in getattr(op, "_call_context_args", ()) or getattr(
                    op, "_call_has_training_arg", False
                ):
                    kwargs["training"] = False
                out = op(*args, **kwargs)
                flat_out = tf.nest.flatten(out)
                if id(op) in state.linear_ids:
                    state.linear[id(op)] = _linear_part(op, args[0])
                if state.guided and is_guided_relu(op):
                    flat_out = [guided_identity(v) for v in flat_out]
                    if in_taint:
                        state.guided_after_watch = True
                out_taint = [in_taint] * len(flat_out)
            for kt, v, t in zip(node.outputs, flat_out, out_taint, strict=True):
                if id(kt) in state.capture_ids:
                    state.captured[id(kt)] = v
                    if id(kt) in state.watch_ids:
                        if state.on_watch is not None:
                            state.on_watch(v)
                        t = True
                values[id(kt)] = v
                taint[id(kt)] = t
        missing = [kt for kt in graph.outputs if id(kt) not in values]
        if missing:
            raise ValueError(f"model {model.name!r}: outputs {missing} are not connected to its inputs")
        return [values[id(kt)] for kt in graph.outputs], [taint[id(kt)] for kt in graph.outputs]


@dataclasses.dataclass
class _RunState:
    capture_ids: set[int]
    watch_ids: set[int]
    linear_ids: set[int]
    on_watch: Callable[[tf.Tensor], None] | None
    guided: bool
    captured: dict[int, Any] = dataclasses.field(default_factory=dict)
    linear: dict[int, Any] = dataclasses.field(default_factory=dict)
    guided_after_watch: bool = False


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
    """

    path: str
    layer: Any
    tensor: Any


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


def find_layer(model: keras.Model, layer: str | keras.layers.Layer | None, rank: int = 4) -> LayerRef:
    """Resolve ``layer`` to the layer whose output a CAM method uses.

    Args:
        model: a Functional or built Sequential model (nested models are searched too).
        layer: a layer name, a path ``"outer/inner"``, a ``keras.layers.Layer`` of the model, or ``None``
            for the last leaf layer with a ``rank``-D output (4: images, 5: volumes), also in nested models.
        rank: the required output rank, batch axis included.

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
    cands = [c for c in _candidates(model, rank) if graph_of(c.layer) is None]
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
    if len(node.outputs) != 1 or len(node.outputs[0].shape) != rank:
        shapes = [tuple(o.shape) for o in node.outputs]
        raise ValueError(
            f"`layer`={path!r} has output shape(s) {shapes}; a {_rank_name(rank)} output is needed "
            f"(candidates: {_describe_candidates(cands)})"
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
    return isinstance(op, keras.layers.Activation) and _activation_name(op) in _SQUASH_NAMES


def find_score_source(model: keras.Model, use_logits: bool = True) -> ScoreSource:
    """Find the class scores to differentiate: pre-softmax (or pre-sigmoid) when ``use_logits``.

    Raises:
        ValueError: the model has several outputs, or an output that is not (batch, classes).
    """
    graph = graph_of(model)
    outputs = list(model.outputs) if graph is not None else []
    if graph is None:
        return ScoreSource(tensor=None)
    if len(outputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(outputs)} outputs; saliency methods need one "
            "(batch, classes) output"
        )
    t = outputs[0]
    if len(t.shape) != 2:
        raise ValueError(
            f"model {model.name!r} output has shape {tuple(t.shape)}; saliency methods need (batch, classes)"
        )
    if not use_logits:
        return ScoreSource(tensor=t)
    op, node, t_inner = _producer(t)
    if _is_squash_layer(op):
        inp = node.input_tensors[0]
        return ScoreSource(tensor=inp, description=f"input of {type(op).__name__} layer {op.name!r}")
    if _activation_name(op) in _SQUASH_NAMES:
        if _supports_linear_part(op):
            return ScoreSource(
                tensor=t_inner, linear_layer=op, description=f"pre-activation output of {op.name!r}"
            )
        warnings.warn(
            f"the last layer {op.name!r} ({type(op).__name__}) applies {_activation_name(op)} internally "
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
        dense, node, _ = _producer(score.tensor)
    else:
        _, node, _ = _producer(score.tensor)
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(
            f"CAM needs scores from a Dense layer after global average pooling; the scores "
            f"({score.description}) come from {type(dense).__name__} {dense.name!r}. Use GradCAM for other "
            "architectures"
        )
    if _activation_name(dense) not in ("", "linear") and score.linear_layer is None:
        raise ValueError(f"CAM needs a linear Dense layer for the scores; {dense.name!r} has an activation")
    t = node.input_tensors[0]
    seen = [dense.name]
    while True:
        op, node, t = _producer(t)
        seen.append(op.name)
        if isinstance(op, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling3D)):
            if getattr(op, "data_format", "channels_last") != "channels_last":
                raise ValueError(f"CAM supports channels_last pooling only; {op.name!r} is channels_first")
            return CamHead(features=node.input_tensors[0], pooling=op, dense=dense)
        if isinstance(op, _PASSTHROUGH) and len(node.input_tensors) == 1:
            t = node.input_tensors[0]
            continue
        raise ValueError(
            "CAM needs a GlobalAveragePooling2D/3D layer feeding the Dense scores layer; walking back from "
            f"{dense.name!r} found {' <- '.join(repr(s) for s in seen)} ({type(op).__name__}). "
            "Use GradCAM for other architectures"
        )
