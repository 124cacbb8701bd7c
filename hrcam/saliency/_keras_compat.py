"""Every private Keras attribute hrcam reads, in one place (the test suite checks no other file does).

The saliency graph runner executes a Functional model node by node (as ``Functional.call`` does), which
needs parts of Keras that are not public API; CASM's trainer wraps its own train steps as Keras does. They
are read only through the functions below, so a Keras release that renames one fails here with a message
naming the attribute and the installed Keras version, instead of an ``AttributeError`` deep inside a traced
function. :func:`missing_attributes` lists what is absent (the test
suite checks it is empty on the installed Keras).

Attributes used (Keras 3.x):

* ``Functional._nodes_by_depth``, ``Functional._outputs_struct`` (a model is a Functional graph),
  ``Functional._standardize_inputs`` (optional: input structure as ``Functional.call`` builds it);
* ``Sequential._functional`` (the graph behind a built Sequential model);
* ``KerasTensor._keras_history`` (``operation``, ``node_index``, ``tensor_index``);
* ``Operation._inbound_nodes``;
* ``Layer._call_context_args`` / ``Layer._call_has_training_arg`` (whether ``call`` takes ``training``);
* ``Node.operation``, ``Node.is_input``, ``Node.input_tensors``, ``Node.outputs``, ``Node.arguments.fill_in``;
* optional (the caller falls back when absent): ``Trainer._make_function`` (a train step wrapped as
  ``make_train_function`` wraps ``train_step``).
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = [
    "KerasCompatError",
    "missing_attributes",
    "functional_graph",
    "nodes_in_order",
    "keras_history",
    "inbound_node",
    "standardize_inputs",
    "takes_training_arg",
    "fill_in_arguments",
    "make_step_function",
]


class KerasCompatError(RuntimeError):
    """A private Keras attribute the graph runner needs is missing from the installed Keras."""


def _fail(what: str) -> KerasCompatError:
    return KerasCompatError(
        f"hrcam's saliency graph runner needs the Keras internal {what}, which Keras {keras.__version__} "
        "does not have; install a Keras version within hrcam's pinned range (setup.py) or report this"
    )


def _probe_model() -> tuple[keras.Model, keras.Sequential]:
    inp = keras.Input((4, 4, 1))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 1)(inp)))
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return keras.Model(inp, out), seq


def missing_attributes() -> list[str]:
    """The private attributes (see the module docstring) absent from the installed Keras; ``[]`` = all there.

    Builds two tiny models (a Functional and a Sequential one) and inspects them.
    """
    model, seq = _probe_model()
    missing = []
    for attr in ("_nodes_by_depth", "_outputs_struct"):
        if not hasattr(model, attr):
            missing.append(f"Functional.{attr}")
    if getattr(seq, "_functional", None) is None:
        missing.append("Sequential._functional")
    history = getattr(model.outputs[0], "_keras_history", None)
    if history is None:
        missing.append("KerasTensor._keras_history")
    else:
        for attr in ("operation", "node_index", "tensor_index"):
            if not hasattr(history, attr):
                missing.append(f"KerasTensor._keras_history.{attr}")
        if not hasattr(history.operation, "_inbound_nodes"):
            missing.append("Operation._inbound_nodes")
    layer = model.layers[1]
    if not (hasattr(layer, "_call_context_args") or hasattr(layer, "_call_has_training_arg")):
        missing.append("Layer._call_context_args / Layer._call_has_training_arg")
    nodes = [n for depth in getattr(model, "_nodes_by_depth", {}).values() for n in depth]
    for attr in ("operation", "is_input", "input_tensors", "outputs", "arguments"):
        if nodes and not hasattr(nodes[0], attr):
            missing.append(f"Node.{attr}")
    if nodes and hasattr(nodes[0], "arguments") and not hasattr(nodes[0].arguments, "fill_in"):
        missing.append("Node.arguments.fill_in")
    return missing


def functional_graph(model: Any) -> Any | None:
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


def nodes_in_order(graph: Any) -> list[Any]:
    """The graph's nodes in execution order (deepest first, as ``Functional.call`` runs them)."""
    try:
        by_depth = graph._nodes_by_depth
    except AttributeError:
        raise _fail("Functional._nodes_by_depth") from None
    nodes = []
    for depth in sorted(by_depth.keys(), reverse=True):
        nodes.extend(by_depth[depth])
    return nodes


def keras_history(t: Any) -> tuple[Any, int, int]:
    """``(operation, node_index, tensor_index)`` of a KerasTensor.

    Raises:
        ValueError: ``t`` is not part of a Functional graph.
    """
    h = getattr(t, "_keras_history", None)
    if h is None:
        raise ValueError(f"tensor {t!r} has no Keras history (not part of a Functional graph)")
    return h.operation, h.node_index, h.tensor_index


def inbound_node(op: Any, node_index: int) -> Any:
    """The ``node_index``-th call node of ``op``."""
    try:
        return op._inbound_nodes[node_index]
    except AttributeError:
        raise _fail("Operation._inbound_nodes") from None


def standardize_inputs(graph: Any, inputs: list[Any]) -> list[Any]:
    """Inputs in the structure ``Functional.call`` feeds them (unchanged when Keras has no such hook)."""
    if hasattr(graph, "_standardize_inputs"):
        return list(graph._standardize_inputs(inputs if len(inputs) > 1 else inputs[0]))
    return inputs


def takes_training_arg(op: Any) -> bool:
    """Whether ``op.__call__`` takes a ``training`` argument."""
    return "training" in getattr(op, "_call_context_args", ()) or bool(
        getattr(op, "_call_has_training_arg", False)
    )


def fill_in_arguments(node: Any, values: dict[int, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The node's call ``(args, kwargs)`` with its KerasTensors replaced by ``values[id(tensor)]``."""
    try:
        args, kwargs = node.arguments.fill_in(values)
    except AttributeError:
        raise _fail("Node.arguments.fill_in") from None
    return list(args), dict(kwargs)


def make_step_function(model: Any, step: Any) -> Any | None:
    """``step`` wrapped as Keras' TensorFlow trainer wraps ``train_step`` (``tf.function``, distribution,
    ``steps_per_execution``), or ``None`` when the installed Keras has no ``Trainer._make_function``."""
    make = getattr(model, "_make_function", None)
    return None if make is None else make(step)
