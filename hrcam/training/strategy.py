"""``tf.distribute`` for every hrcam trainer: one helper to build a strategy and train under it.

A trainer (HalfModel, FullModel, CASM, Explainer) does::

    from hrcam.training.strategy import strategy_scope, check_global_batch, prepare_for_training

    with strategy_scope(config.half) as strategy:          # or strategy_scope("mirrored")
        check_global_batch(config.data.batch_size, strategy)  # the dataset is batched at the GLOBAL size
        model = build_the_model()                            # variables, optimizer, metrics: all in here
        model.compile(...)
        prepare_for_training(model, strategy, config.half)   # jit_compile flag, synchronised BatchNorm
        state.restore(model)                                 # resume: optimizer built in the scope
        model.fit(dataset, ...)                              # Keras splits each global batch per replica

and writes its checkpoints to :func:`worker_dir` (the run directory on the chief, a scratch folder on the
other workers of a multi-worker run: every worker must save, since saving reads the replicated variables).

Strategies (``--strategy`` / ``TrainConfig.strategy``):

* ``default``: no distribution (one device).
* ``mirrored``: :class:`tf.distribute.MirroredStrategy` over the local GPUs, or over the logical CPU devices
  when several are configured (:func:`split_cpu`, for tests), else the one CPU.
* ``multiworker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`; the cluster comes from the
  ``TF_CONFIG`` environment variable (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type":
  "worker", "index": i}}``); every worker runs the same command.
* ``tpu``: :class:`tf.distribute.TPUStrategy` on the TPU named by ``TPU_NAME`` (or the local one).

``mixed_precision`` sets Keras' ``mixed_float16`` policy inside the scope (GPU only: refused on a machine
without a GPU, where float16 matmuls are emulated and slower); ``jit_compile`` compiles the train step with
XLA (off by default: on CPU it is many times slower).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hrcam.config import STRATEGIES
from hrcam.config.schema import check_value
from hrcam.config.sections import STRATEGY

__all__ = [
    "STRATEGIES",
    "make_strategy",
    "strategy_scope",
    "check_global_batch",
    "per_replica_batch_size",
    "prepare_for_training",
    "is_chief",
    "worker_dir",
    "split_cpu",
    "check_mixed_precision",
]


def check_strategy_name(name: Any) -> str:
    """``name`` if it is one of :data:`STRATEGIES` (the names live in :mod:`hrcam.config.sections`)."""
    return check_value("strategy", name, str, STRATEGY)


def split_cpu(n: int) -> None:
    """Make ``n`` logical CPU devices (``/cpu:0`` ... ``/cpu:n-1``) so ``mirrored`` has n replicas on a
    machine without GPUs. Must run before TensorFlow creates any tensor (a RuntimeError otherwise)."""
    import tensorflow as tf

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive int, got {n!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def _check_tf_config() -> dict:
    text = os.environ.get("TF_CONFIG")
    if not text:
        return {}
    try:
        cfg = json.loads(text)
        workers = cfg["cluster"]["worker"]
        task = cfg["task"]
        if not isinstance(workers, list) or not 0 <= int(task["index"]) < len(workers):
            raise ValueError
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": i}}}}, got {text!r}'
        ) from e
    return cfg


_CACHE: dict[str, Any] = {}


def make_strategy(name: str = "default", devices: list[str] | None = None):
    """A ``tf.distribute.Strategy`` by name (see the module docstring), created once per process and name
    (``multiworker`` must be created before TensorFlow runs any op: trainers call this first).

    Args:
        name: one of :data:`STRATEGIES`.
        devices: for ``mirrored``, explicit devices (e.g. ``["/gpu:0", "/gpu:1"]``); default: every GPU,
            else every logical CPU.

    Raises:
        ValueError: unknown name, malformed ``TF_CONFIG``, no TPU reachable.
    """
    import tensorflow as tf

    check_strategy_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    key = f"{name}:{devices}"
    if key not in _CACHE:
        _CACHE[key] = _new_strategy(name, devices)
    return _CACHE[key]


def _new_strategy(name: str, devices: list[str] | None):
    import tensorflow as tf

    if name == "mirrored":
        if devices is None:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        _check_tf_config()
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
        )
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        return _keras_compatible_reduce(strategy)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(f"strategy 'tpu': no TPU reachable (set TPU_NAME?): {e}") from e
    return tf.distribute.TPUStrategy(resolver)


def _keras_compatible_reduce(strategy):
    """Work around two Keras 3.15 calls that MultiWorkerMirroredStrategy with several workers refuses:
    ``fit`` reduces a whole ``(x, y)`` PerReplica structure in one ``reduce`` (to build the model) and
    reduces scalar metrics with ``axis=0`` ("Invalid reduction dimension 0 for input with 0 dimensions").
    The strategy's ``reduce`` is wrapped to go element by element, with ``axis=None`` for scalars."""
    import tensorflow as tf

    reduce_one = strategy.reduce

    def reduce(reduce_op, value, axis=None):
        def one(v):
            local = strategy.experimental_local_results(v)[0] if hasattr(v, "values") else v
            rank = getattr(getattr(local, "shape", None), "rank", None)
            return reduce_one(reduce_op, v, axis=None if rank == 0 else axis)

        return tf.nest.map_structure(one, value)

    strategy.reduce = reduce
    return strategy


def check_mixed_precision(enabled: bool) -> None:
    """Raise ValueError when mixed precision is asked for on a machine without a GPU."""
    import tensorflow as tf

    if enabled and not tf.config.list_physical_devices("GPU"):
        raise ValueError(
            "--mixed-precision (mixed_float16) needs a GPU: this machine has none, and float16 on the CPU "
            "is emulated and slower than float32; train without it"
        )


@contextlib.contextmanager
def strategy_scope(config: Any = "default") -> Iterator[Any]:
    """Enter a strategy's scope (and the mixed-precision policy) and yield the strategy.

    ``config``: a strategy name, a ``tf.distribute.Strategy``, or an object with ``strategy`` (and optional
    ``mixed_precision``) attributes such as :class:`hrcam.config.TrainConfig`. The global Keras dtype
    policy is restored on exit.
    """
    import keras
    import tensorflow as tf

    mixed = bool(getattr(config, "mixed_precision", False))
    if isinstance(config, tf.distribute.Strategy):
        strategy = config
    else:
        strategy = make_strategy(
            config if isinstance(config, str) else getattr(config, "strategy", "default")
        )
    check_mixed_precision(mixed)
    old_policy = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        with strategy.scope():
            yield strategy
    finally:
        keras.config.set_dtype_policy(old_policy)


def per_replica_batch_size(global_batch: int, strategy: Any) -> int:
    """``global_batch / replicas``; ValueError when it does not divide evenly."""
    replicas = int(strategy.num_replicas_in_sync)
    if not isinstance(global_batch, int) or global_batch < 1 or global_batch % replicas:
        raise ValueError(
            f"the global batch size (data.batch_size) must be a positive multiple of the {replicas} "
            f"replica(s) of the strategy, got {global_batch!r}"
        )
    return global_batch // replicas


check_global_batch = per_replica_batch_size


def prepare_for_training(model: Any, strategy: Any, config: Any = None, sync_bn: bool | None = None) -> Any:
    """After ``compile``: set ``model.jit_compile`` from ``config.jit_compile`` (False by default; Keras'
    "auto" would turn XLA on with a GPU) and synchronise BatchNormalization (``sync_bn``; None = when the
    strategy has several replicas) so batch statistics cover the global batch: training then matches one
    device on the same global batches (up to float rounding: synchronised moments are computed in one pass,
    E[x^2] - E[x]^2). Returns ``model``."""
    import keras

    model.jit_compile = bool(getattr(config, "jit_compile", False))
    if sync_bn or (sync_bn is None and strategy.num_replicas_in_sync > 1):
        for layer in _all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
    return model


def _all_layers(model: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Every layer inside ``model`` once, also those a custom layer holds in its attributes outside
    ``layers`` (e.g. the CASM decoder's stage reducers, a list of tuples): Keras tracks a sub-layer by the
    attribute it is assigned to, so the attributes' values (and the lists, tuples, dicts and sets in them)
    are searched, through public Python only."""
    import keras

    seen = set() if seen is None else seen
    stack = list(vars(model).values())
    while stack:
        value = stack.pop()
        if isinstance(value, keras.layers.Layer):
            if id(value) not in seen:
                seen.add(id(value))
                yield value
                yield from _all_layers(value, seen)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend(value)


def _task_index(strategy: Any) -> tuple[str | None, int]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: Any) -> bool:
    """True on the worker that owns the run directory (always, without a multi-worker cluster)."""
    task_type, task_id = _task_index(strategy)
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0)


def worker_dir(run_dir: str | Path, strategy: Any) -> Path:
    """Where this worker writes checkpoints: ``run_dir`` on the chief, ``run_dir/.workers/<type>-<i>`` on
    the others (their copies are identical and only needed because saving is collective)."""
    if is_chief(strategy) or Path(run_dir).parent.name == ".workers":
        return Path(run_dir)
    task_type, task_id = _task_index(strategy)
    return Path(run_dir) / ".workers" / f"{task_type}-{task_id}"
