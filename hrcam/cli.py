"""The ``hrcam`` command line: one subcommand per module in :mod:`hrcam.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs (``--help`` imports each to list its options, but
none of them imports TensorFlow at module level).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# subcommand name -> module under hrcam.commands
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "train-half": "train",
    "train-full": "train",
    "train-casm": "train_casm",
    "evaluate": "evaluate",
    "score": "score",
    "export": "export",
    "explain": "explain",
    "report": "report",
    "extract": "extract",
    "train-explainer": "train_explainer",
    "tables": "tables",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrcam",
        description="High-resolution class activation maps and saliency for Keras 3 classifiers.",
    )
    from hrcam import __version__

    parser.add_argument("--version", action="version", version=f"hrcam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"hrcam.commands.{module_name}")
        help_text = module.HELP[name] if isinstance(module.HELP, dict) else module.HELP
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p, name)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        print(f"hrcam {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
