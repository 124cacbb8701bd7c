"""Type checks and value rules of every config section, with one error wording (TensorFlow-free).

A section is a dataclass that inherits :class:`Section`: constructing it checks each field against its
annotation (``int``, ``float``, ``bool``, ``str``, ``X | None``, ``list[str]``, ``tuple[int, ...]``,
``dict``), then the field's rule from the class's ``RULES`` table (:func:`positive`, :func:`at_least`,
:func:`between`, :func:`one_of`, or any :class:`Rule`), then the section's own :meth:`Section.check` for
rules that join several fields. Every failure is a :class:`ConfigError` (a ``ValueError``) that names the
key, the value and what was expected::

    `half.epochs`: expected a positive int, got 'abc'

The loader (:mod:`hrcam.config.loader`) prefixes the section's name (``epochs`` -> ``half.epochs``).
Values are normalised on the way: an int given for a float becomes a float, a number given for a string
becomes a string, a list given for a tuple becomes a tuple; nothing else is converted (``2.7`` is not an
int, ``"abc"`` is not a number, ``1`` is not a bool).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import operator
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "Rule",
    "Section",
    "positive",
    "at_least",
    "between",
    "one_of",
    "check_value",
    "describe_type",
    "field_types",
    "is_section",
]

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # YAML 1.1 reads "1e-4" as a string


class ConfigError(ValueError):
    """A config value that is not what its key expects. ``key`` is the dotted key (``half.epochs``);
    ``problem`` the rest of the message (``expected a positive int, got 'abc'``)."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"`{key}`: {problem}")

    @classmethod
    def expected(cls, key: str, value: Any, expected: str, hint: str = "") -> ConfigError:
        """``expected {expected}, got {value!r}`` (and ``; {hint}``)."""
        return cls(key, f"expected {expected}, got {value!r}" + (f"; {hint}" if hint else ""))

    def within(self, section: str) -> ConfigError:
        """The same error for the key inside ``section`` (``epochs`` -> ``half.epochs``)."""
        return ConfigError(f"{section}.{self.key}", self.problem)


@dataclass(frozen=True)
class Rule:
    """A value rule: ``test(value)`` is true for good values; ``text`` says what they are, with ``{a}``
    standing for the field's type with its article (``an int``, ``a number``) and ``{type}`` without it."""

    test: Callable[[Any], bool]
    text: str

    def describe(self, tp: Any) -> str:
        a = describe_type(tp)
        return self.text.format(a=a, type=a.split(" ", 1)[-1])


def positive() -> Rule:
    """``> 0`` (``a positive int`` / ``a positive number``)."""
    return Rule(lambda v: v > 0, "a positive {type}")


def at_least(low: float) -> Rule:
    """``>= low``."""
    return Rule(lambda v: v >= low, f"{{a}} >= {low}")


def between(low: float, high: float, closed: str = "[]") -> Rule:
    """In the interval from ``low`` to ``high``; ``closed`` gives its brackets (``"[)"``: low included)."""
    lo_ok = (lambda v: v >= low) if closed[0] == "[" else (lambda v: v > low)
    hi_ok = (lambda v: v <= high) if closed[1] == "]" else (lambda v: v < high)
    return Rule(lambda v: lo_ok(v) and hi_ok(v), f"{{a}} in {closed[0]}{low}, {high}{closed[1]}")


def one_of(*choices: Any) -> Rule:
    """One of ``choices`` (``'a' or 'b'``, ``one of 'a', 'b', 'c'``)."""
    names = [repr(c) for c in choices]
    text = " or ".join(names) if len(names) <= 2 else "one of " + ", ".join(names)
    return Rule(lambda v: v in choices, text)


class _Mismatch(Exception):
    pass


def _optional(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, ``(tp, False)`` otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return functools.reduce(operator.or_, args), True
    return tp, False


def describe_type(tp: Any) -> str:
    """What a value of annotation ``tp`` is, in words (``a positive int`` needs a :class:`Rule`)."""
    inner, optional = _optional(tp)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if inner is bool:
        text = "true or false"
    elif inner is int:
        text = "an int"
    elif inner is float:
        text = "a number"
    elif inner is str:
        text = "a string"
    elif inner is dict or origin is dict:
        text = "a mapping"
    elif origin is list:
        text = f"a list of {describe_type(args[0]).split(' ', 1)[-1]}s"
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        text = f"a list of {describe_type(args[0]).split(' ', 1)[-1]}s"
    elif origin is tuple:
        text = f"a list of {len(args)} {describe_type(args[0]).split(' ', 1)[-1]}s"
    else:
        text = getattr(inner, "__name__", str(inner))
    return f"{text} or null" if optional else text


def _coerce(value: Any, tp: Any, inside: bool = False) -> Any:
    """``value`` as a value of annotation ``tp`` (normalised), or :class:`_Mismatch`; ``inside``: an item of
    a list or tuple (a number is then not taken for a string)."""
    inner, optional = _optional(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise _Mismatch
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if inner is Any:
        return value
    if inner is bool:
        if isinstance(value, bool):
            return value
    elif inner is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    elif inner is float:
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif inner is str:
        if isinstance(value, str):
            return value
        if not inside and isinstance(value, numbers.Real) and not isinstance(value, bool):  # a path: 2024
            return str(value)
    elif inner is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin in (list, tuple) and isinstance(value, (list, tuple)):
        if origin is list:
            return [_coerce(v, args[0], True) for v in value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], True) for v in value)
        if len(value) == len(args):
            return tuple(_coerce(v, a, True) for v, a in zip(value, args))
    elif isinstance(inner, type) and isinstance(value, inner):
        return value
    raise _Mismatch


def check_value(key: str, value: Any, tp: Any, rule: Rule | None = None) -> Any:
    """``value`` checked against annotation ``tp`` and ``rule`` (skipped for None) and normalised;
    :class:`ConfigError` naming ``key`` otherwise."""
    inner, optional = _optional(tp)
    expected = rule.describe(inner) + (" or null" if optional else "") if rule else describe_type(tp)
    try:
        out = _coerce(value, tp)
        good = out is None or rule is None or bool(rule.test(out))
    except (_Mismatch, TypeError):
        good = False
    if not good:
        raise ConfigError.expected(key, value, expected)
    return out


_TYPES: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of dataclass ``cls`` (cached)."""
    if cls not in _TYPES:
        hints = typing.get_type_hints(cls)
        _TYPES[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}
    return _TYPES[cls]


def is_section(tp: Any) -> bool:
    """True for a nested section's annotation (a :class:`Section` dataclass)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp) and issubclass(tp, Section)


class Section:
    """Base of every config dataclass: on construction each field is checked and normalised
    (:func:`check_value` with the annotation and ``RULES[name]``), then :meth:`check` runs.

    ``RULES``: ``{field name: Rule}`` of the subclass (a plain class attribute, not a field).
    """

    RULES: dict[str, Rule] = {}

    def __post_init__(self) -> None:
        for name, tp in field_types(type(self)).items():
            value = getattr(self, name)
            if is_section(tp):
                if not isinstance(value, tp):
                    raise ConfigError.expected(name, value, f"a {tp.__name__}")
                continue
            object.__setattr__(self, name, check_value(name, value, tp, self.RULES.get(name)))
        self.check()

    def check(self) -> None:
        """Rules that join several fields (raise :class:`ConfigError`); none by default."""
