"""The ops of the compiled graphs behind the benchmarked calls, as JSON: one run per tree compares two commits
without timing noise (the same op multiset = the same work).

    PYTHONPATH=OLD_TREE python OLD_TREE/scripts/graph_ops.py > old.json   # or this file, run on each tree
    PYTHONPATH=. python scripts/graph_ops.py > new.json

Traces, on the paper's DenseNet-FCN (untrained weights) at 64x64, batch 8: ``FullModel.generate_cams`` and
the saliency methods of ``bench_saliency.py`` (their per-batch compiled function), and counts op types.
"""

from __future__ import annotations

import collections
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _ops(concrete) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()
    graphs = [concrete.graph]
    while graphs:  # the function's graph and the graphs of the functions it calls (control flow, nested)
        graph = graphs.pop()
        for op in graph.get_operations():
            counts[op.type] += 1
        graphs.extend(f.graph for f in getattr(graph, "_functions", {}).values() if hasattr(f, "graph"))
    return dict(sorted(counts.items()))


def main() -> None:
    import numpy as np
    import tensorflow as tf

    try:
        from hrcam.highres import FullModel, HalfModel
    except ImportError:  # trees before the family folders
        from hrcam.models import FullModel, HalfModel
    from hrcam.saliency import saliency

    x = np.random.default_rng(0).random((8, 64, 64, 3)).astype(np.float32)
    fm = FullModel(HalfModel(10, (64, 64, 3)))
    fm.generate_cams(x)
    out = {
        "generate_cams": _ops(fm._maps_compiled.get_concrete_function(tf.constant(x), tf.fill([8, 1], -1)))
    }
    for method in ("CAM", "GradCAM", "GradCAM++", "LayerCAM", "Gradients", "GuidedBackprop", "GuidedGradCAM",
                   "SmoothGrad", "IntegratedGradients"):  # fmt: skip
        kwargs = (
            {"n_samples": 4}
            if method == "SmoothGrad"
            else {"steps": 4}
            if method == "IntegratedGradients"
            else {}
        )
        explainer = saliency(fm.half_model.model, method=method, batch_size=64, **kwargs)
        explainer(x)
        fns = getattr(explainer, "compiled_fns", None) or explainer._fns
        fn = next(f for k, f in fns.items() if k != "predict")
        out[method] = _ops(fn.get_concrete_function())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
