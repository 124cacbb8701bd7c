"""Argument helpers shared by the subcommands: the trainers' config flags and ``--set`` overrides (one
routing for every trainer), JSON output."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any


def add_trainer_arguments(
    parser: argparse.ArgumentParser,
    config_help: str,
    set_example: str,
    section: type,
    stage: str,
    data_help: str,
) -> None:
    """The arguments every trainer shares, read back by :func:`trainer_overrides`: ``--config``,
    ``--data``, ``--run-dir``, ``--epochs``, ``--set``, ``--strategy`` (and ``--mixed-precision`` /
    ``--jit-compile`` where the training ``section`` dataclass has those keys), ``--map-summaries``,
    ``--quiet``, ``--json``;
    ``stage`` is that section's name in the config (``half``, ``full``, ``train``)."""
    from hrcam.config import STRATEGIES

    fields = {f.name for f in dataclasses.fields(section)}
    parser.add_argument("--config", metavar="YAML", help=config_help)
    parser.add_argument(
        "--data",
        metavar="[SOURCE:]ROOT",
        help=f"{data_help}; or SOURCE:ROOT, an official layout (voc2007, voc2012, coco2014, coco2017, cub), "
        "or synthetic (sets data.source and data.root)",
    )
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (overrides run_dir)")
    parser.add_argument("--epochs", type=int, metavar="N", help=f"epochs (overrides {stage}.epochs)")
    add_override_argument(parser, set_example)
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help=f"tf.distribute strategy (overrides {stage}.strategy); multiworker reads TF_CONFIG; "
        "data.batch_size is the global batch, split over the replicas",
    )
    if "mixed_precision" in fields:
        parser.add_argument(
            "--mixed-precision", action="store_true", help="mixed_float16 (GPU only; refused on CPU)"
        )
    if "jit_compile" in fields:
        parser.add_argument(
            "--jit-compile", action="store_true", help="XLA-compile the train step (GPU/TPU; slower on CPU)"
        )
    parser.add_argument(
        "--map-summaries",
        type=int,
        metavar="N",
        help="every N epochs, write maps of validation images to TensorBoard (RUN_DIR/logs/<stage>/maps; "
        "sets summaries.every; choose sources with --set 'summaries.sources=[gradcam,cam]')",
    )
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def quoted(value: Any) -> str:
    """``value`` as a YAML string for an override (a path such as ``on`` or ``2024`` stays a string)."""
    return json.dumps(str(value))


def trainer_overrides(args: argparse.Namespace, section: str, extra: list[str] | None = None) -> list[str]:
    """The overrides of a trainer command, in the order they apply: ``--set`` values, then ``extra`` (the
    command's own flags), then the shared flags of :func:`add_trainer_arguments` (``section`` is the
    training section: ``half``, ``full`` or ``train``). Flags win over ``--set``."""
    out = list(args.overrides) + list(extra or [])
    if getattr(args, "data", None):
        from hrcam.data.resolve import data_overrides

        out += data_overrides(args.data)
    if getattr(args, "epochs", None) is not None:
        out.append(f"{section}.epochs={args.epochs}")
    if getattr(args, "strategy", None):
        out.append(f"{section}.strategy={args.strategy}")
    if getattr(args, "mixed_precision", False):
        out.append(f"{section}.mixed_precision=true")
    if getattr(args, "jit_compile", False):
        out.append(f"{section}.jit_compile=true")
    if getattr(args, "map_summaries", None) is not None:
        out.append(f"summaries.every={args.map_summaries}")
    if getattr(args, "run_dir", None):
        out.append(f"run_dir={quoted(args.run_dir)}")
    return out


def add_override_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable) into ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override any config value, e.g. --set {example} (repeatable; values are YAML scalars)",
    )


def add_colour_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cmap`` and ``--alpha``: hrcam's one colour convention for maps (:mod:`hrcam.plotting.colors`)."""
    from hrcam.plotting.colors import DEFAULT_ALPHA, DEFAULT_CMAP

    parser.add_argument(
        "--cmap",
        default=DEFAULT_CMAP,
        help=f"matplotlib colormap of the maps (default {DEFAULT_CMAP}: perceptually uniform; jet on "
        "request)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"weight of the colour-mapped map in the overlays, 0..1 (default {DEFAULT_ALPHA})",
    )


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


def expand_masker_dirs(names: list[str], specs: list[str]) -> tuple[list[str], list[str]]:
    """``casm:masker=DIR`` (a folder, e.g. ``--masker runs/casms/``) -> one ``casm:masker=FILE`` spec per
    ``.keras`` file in it (sorted), named ``casm:<file stem>``, as CASM's scoring script scores a folder of
    maskers; other specs pass through under their given names. Returns ``(names, specs)``.

    Raises:
        FileNotFoundError: a folder without ``.keras`` files.
    """
    from pathlib import Path

    from hrcam.saliency.names import canonical
    from hrcam.sources import parse

    out_names, out_specs = [], []
    for name, spec in zip(names, specs, strict=True):
        key, options = parse(spec)
        folder = options.get("masker") or options.get("model")
        if canonical(key)[0] != "casm" or folder is None or not Path(str(folder)).is_dir():
            out_names.append(name)
            out_specs.append(spec)
            continue
        files = sorted(Path(str(folder)).glob("*.keras"))
        if not files:
            raise FileNotFoundError(f"masker folder {folder} holds no .keras files")
        rest = ",".join(f"{k}={v}" for k, v in options.items() if k not in ("masker", "model"))
        for f in files:
            out_names.append(f"{canonical(key)[0]}:{f.stem}")
            out_specs.append(f"{key}:masker={f}" + (f",{rest}" if rest else ""))
    return out_names, out_specs
