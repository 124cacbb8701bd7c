"""The ``hrcam`` command line: one subcommand per module in :mod:`hrcam.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs (``--help`` imports each to list its options, but
none of them imports TensorFlow at module level).

Failures are one line on stderr, ``hrcam COMMAND: error: ...``, and an exit status: 2 for a usage or input
error (a bad flag or value, a missing or unreadable file, a model that does not fit the data), 1 for a fault
at run time (a server that cannot be reached or refuses, a full disk, a read-only folder, anything
unexpected), 130 for Ctrl-C; SIGTERM ends the process as the signal does (status 143 in a shell) after the
same one line, with what was finished kept (rerun to resume). ``--debug``
(before or after the command; or ``HRCAM_DEBUG=1``) prints the traceback as well.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence

__all__ = ["COMMANDS", "build_parser", "main", "exit_status", "one_line"]

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

#: Exceptions that mean the command was given something it cannot use (exit status 2).
USAGE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # also UnicodeError, ConfigError, json.JSONDecodeError
    TypeError,
    KeyError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (``--help`` shows the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks remove temporary files."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hrcam",
        description="High-resolution class activation maps and saliency for Keras 3 classifiers.",
    )
    from hrcam import __version__

    parser.add_argument("--version", action="version", version=f"hrcam {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of a failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"hrcam.commands.{module_name}")
        help_text = module.HELP[name] if isinstance(module.HELP, dict) else module.HELP
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p, name)
        p.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of a failure"
        )
        p.set_defaults(_module=module)
    return parser


def exit_status(error: BaseException) -> int:
    """2 for a usage or input error, 130 for Ctrl-C, 143 for SIGTERM, 1 for anything else."""
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, Terminated):
        return 143
    return 2 if isinstance(error, USAGE_ERRORS) else 1


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (TensorFlow's ``OpError`` without its graph trace)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted; what was finished is kept (rerun to resume)"
    if isinstance(error, Terminated):
        return "terminated (SIGTERM); what was finished is kept (rerun to resume)"
    from_tf = type(error).__module__.startswith("tensorflow")
    text = getattr(error, "message", None) if from_tf else None
    text = text or (error.args[0] if isinstance(error, KeyError) and error.args else None) or str(error)
    lines = [s.strip() for s in str(text).splitlines() if s.strip()]
    if from_tf and lines:  # TensorFlow's first line (its last after "in user code:"), without the op's name
        line = lines[-1] if lines[0].startswith("in user code") else lines[0]
        line = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", line)
        lines = [re.sub(r"\s*\[Op:\w+\].*$", "", line)]
    text = "; ".join(lines) or type(error).__name__
    if exit_status(error) == 1 and not isinstance(error, OSError | RuntimeError):
        text = f"{type(error).__name__}: {text}"
    return text


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the command runs."""

    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print as \xNN, not a crash
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("HRCAM_DEBUG") == "1"
    try:
        with _sigterm_raises():
            return int(args._module.run(args) or 0)
    except (Exception, KeyboardInterrupt, Terminated) as e:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"hrcam {args.command}: error: {one_line(e)}", file=sys.stderr)
        if isinstance(e, Terminated):  # die of SIGTERM now: worker threads (Beam, tf.data) must not linger
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        return exit_status(e)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
