"""Argument helpers shared by the subcommands: config files, ``--set`` overrides, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="experiment preset, e.g. opts/synthetic.yaml")
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (overrides run_dir in the config)")
    parser.add_argument(
        "--data", metavar="ROOT", help="folder dataset root in the ImageNet layout (sets data.source=folder)"
    )
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs of this stage (overrides the config)")
    add_override_argument(parser, "data.batch_size=16")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def add_override_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable) into ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override any config value, e.g. --set {example} (repeatable)",
    )


def load_config_from_args(args: argparse.Namespace, stage: str | None = None):
    from hrcam.config import load_config

    overrides = list(args.overrides)
    if getattr(args, "data", None):
        overrides += ["data.source=folder", f"data.root={args.data}"]
    if getattr(args, "epochs", None) is not None and stage is not None:
        overrides.append(f"{stage}.epochs={args.epochs}")
    config = load_config(args.config, overrides)
    if getattr(args, "run_dir", None):
        config.run_dir = args.run_dir
    return config


def emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """Print ``result`` as JSON (``--json``) or the human-readable ``lines``."""
    if as_json:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)


def load_hrcam_model(path: str, argument: str = "--model"):
    """A HalfModel or FullModel from a ``.keras`` file, through :func:`hrcam.highres.load_model`.

    Raises:
        FileNotFoundError: no file. ValueError: a Keras model without hrcam's CAM head.
    """
    from hrcam.highres import FullModel, HalfModel, load_model

    model = load_model(path)
    if not isinstance(model, (HalfModel, FullModel)):
        raise ValueError(
            f"{argument} {str(path)!r} holds a Keras model without hrcam's CAM head "
            "(conv_aux -> gap -> logits); expected a HalfModel or FullModel file"
        )
    return model


def add_source_files(parser: argparse.ArgumentParser) -> None:
    """``--masker`` / ``--explainer``: the files that complete the ``casm`` / ``explainer`` map sources."""
    parser.add_argument(
        "--masker", metavar="M.keras", help="the CASM masker of `casm` (= casm:masker=M.keras)"
    )
    parser.add_argument(
        "--explainer", metavar="E.keras", help="the Explainer of `explainer` (= explainer:model=E.keras)"
    )


def complete_specs(specs: list[str], args: argparse.Namespace) -> list[str]:
    """Map-source specs with ``casm`` / ``explainer`` completed by ``--masker`` / ``--explainer`` (when the
    spec names no file of its own)."""
    from hrcam.saliency.names import canonical
    from hrcam.sources import parse

    files = {
        "casm": ("masker", getattr(args, "masker", None)),
        "explainer": ("model", getattr(args, "explainer", None)),
    }
    out = []
    for spec in specs:
        name, options = parse(spec)
        key = canonical(name)[0]
        option, path = files.get(key, (None, None))
        if path and not {"model", "masker", "network"} & set(options):
            spec = f"{spec}{',' if ':' in spec else ':'}{option}={path}"
        out.append(spec)
    return out
