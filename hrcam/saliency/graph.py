"""Run a Keras model layer by layer on tensors: capture or watch any intermediate tensor, guided ReLUs.

Works on the *graph* of a Functional (or built Sequential) Keras model, recursing into nested models (a
``keras.applications`` backbone used as one layer), and never modifies the user's model. Every private Keras
attribute it needs is read through :mod:`hrcam.saliency._keras_compat`.

* :class:`GraphRunner` executes the model as ``Functional.call`` does, capturing any intermediate tensor of
  any nesting depth, letting the caller ``tape.watch`` it the moment it is produced (so back-propagation to it
  only runs through the layers *after* it), and optionally making every ReLU "guided" (Springenberg et al.) on
  the backward pass only.

Guided backprop without a clone: a ReLU's backward pass is ``dy * 1[x > 0]``; guided backprop replaces it by
``relu(dy) * 1[x > 0]``. Wrapping the ReLU's *output* in an identity whose gradient is ``relu(dy)`` gives
exactly that, also for ReLUs fused into Conv/Dense layers (``activation="relu"``) and for ReLU6
(mask ``0 < x < 6``), while the forward values, the weights and the user's layers stay untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import tensorflow as tf

from hrcam.saliency import _keras_compat as kc

__all__ = [
    "GraphRunner",
    "RunResult",
    "graph_of",
    "iter_nodes",
    "producer",
    "activation_name",
    "is_guided_relu",
    "guided_identity",
    "linear_part",
    "supports_linear_part",
    "conv_layer_types",
]

_RELU_NAMES = {"relu", "relu6"}


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


graph_of = kc.functional_graph
_ordered_nodes = kc.nodes_in_order


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


def producer(t: Any) -> tuple[Any, Any, Any]:
    """``(operation, node, tensor)`` producing KerasTensor ``t``, descending into nested models' outputs."""
    while True:
        op, node_index, tensor_index = kc.keras_history(t)
        inner = graph_of(op)
        if inner is not None:
            t = inner.outputs[tensor_index]
            continue
        node = kc.inbound_node(op, node_index)
        return op, node, t


def activation_name(op: Any) -> str:
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
    return activation_name(op) in _RELU_NAMES


@tf.custom_gradient
def guided_identity(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """Identity forward; the backward pass keeps only positive gradients (``relu(dy)``).

    Put after a ReLU, the pair back-propagates ``relu(dy) * 1[x > 0]``: the guided ReLU.
    """

    def grad(dy: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(dy)

    return tf.identity(x), grad


def linear_part(layer: Any, x: tf.Tensor) -> tf.Tensor:
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


def supports_linear_part(layer: Any) -> bool:
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
        inputs = kc.standardize_inputs(graph, inputs)
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
                args, kwargs = kc.fill_in_arguments(node, values)
                if kc.takes_training_arg(op):
                    kwargs["training"] = False
                out = op(*args, **kwargs)
                flat_out = tf.nest.flatten(out)
                if id(op) in state.linear_ids:
                    state.linear[id(op)] = linear_part(op, args[0])
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
