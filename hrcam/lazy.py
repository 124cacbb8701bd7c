"""Names of a package that load on first use (PEP 562), so that importing the package loads no TensorFlow."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` from ``table``: ``"module: name name; ..."``
    (modules relative to the package, or absolute when they start with ``hrcam.``).

    Each name is imported from its module when first read, e.g. ``hrcam.casm.CasmMasker`` imports
    ``hrcam.casm.masker`` then.
    """
    where: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in table.split(";"))):
        module, _, names = entry.partition(":")
        module = module.strip()
        for name in names.split():
            where[name] = module if module.startswith("hrcam.") else f"{package}.{module}"
    exported = sorted(where)

    def getattr_(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return getattr_, lambda: list(exported), exported
