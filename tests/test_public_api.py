"""The public API names of DESIGN.md import as documented, and importing hrcam does no heavy work."""

import subprocess
import sys


def test_documented_imports():
    import hrcam.saliency.base  # noqa: F401  (the submodule being loaded first must not hide the factory)
    from hrcam import FullModel, HalfModel, saliency_plot
    from hrcam.postprocessing import pipeline
    from hrcam.saliency import saliency  # DESIGN.md's spelling (hrcam.saliency is the package)

    assert callable(saliency) and callable(saliency_plot) and callable(pipeline)
    assert HalfModel.__name__ == "HalfModel" and FullModel.__name__ == "FullModel"


def test_import_hrcam_is_lazy():
    code = "import sys, hrcam, hrcam.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_cli_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "hrcam.cli", "--help"], capture_output=True, text=True).stdout
    for name in ("demo", "train-half", "train-full", "evaluate", "score", "explain", "export"):
        assert name in out
