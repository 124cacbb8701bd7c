"""The one experiment-config loader of every hrcam trainer (TensorFlow-free; reads, never writes).

An experiment schema is a :class:`~hrcam.config.schema.Section` dataclass whose fields are sections
(dataclasses too: ``data``, ``half``, ``train`` ...) or top-level values (``run_dir``); its class attributes
``NAME`` (``"HR-CAM"``, ``"CASM"``, ``"Explainer"``) and ``PRESETS`` (the preset names it ships in
``hrcam/presets/``) complete it. :func:`load_experiment` then

1. reads a preset name, a YAML file (errors name the file and line) or nothing (the schema's defaults);
2. applies ``--set`` overrides, ``section.key=value`` (or ``key=value`` for a top-level value; a key of a
   mapping field goes one level deeper, ``classifier.densenet.num_blocks=3``), values parsed as YAML
   scalars;
3. refuses unknown sections and keys (a section is never created that the schema does not have);
4. builds each section over the schema's default for it: types, rules and checks of
   :mod:`hrcam.config.schema`, errors naming the dotted key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hrcam.config.schema import ConfigError, field_types, is_section

__all__ = [
    "load_experiment",
    "read_config_file",
    "apply_overrides_to",
    "build_experiment",
    "preset_text",
    "same_section",
]

T = TypeVar("T")


def preset_text(name: str) -> str:
    """The text of the shipped preset ``hrcam/presets/<name>.yaml``."""
    return resources.files("hrcam").joinpath("presets", f"{name}.yaml").read_text(encoding="utf-8")


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        context = f" ({e.context})" if e.context else ""
        raise ValueError(f"{source}{where}: invalid YAML{context}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{source}: invalid YAML: {e}") from None


def read_config_file(
    path_or_preset: str | Path | None, presets: tuple[str, ...], what: str = "config"
) -> dict:
    """The top-level mapping of a preset (a ``str`` in ``presets``), a YAML file, or ``{}`` for None.

    Raises:
        TypeError: neither a str nor a Path. FileNotFoundError: a missing file path. ValueError: a bare
        name that is neither a preset nor a file, invalid YAML (file and line), not a mapping.
    """
    if path_or_preset is None:
        return {}
    names = ", ".join(presets)
    if isinstance(path_or_preset, str) and path_or_preset in presets:
        source, text = f"{what} preset {path_or_preset!r}", preset_text(path_or_preset)
    elif not isinstance(path_or_preset, (str, Path)):
        raise TypeError(
            f"config must be a preset name or a file path (str or Path), got {type(path_or_preset).__name__}"
        )
    else:
        path = Path(path_or_preset)
        if not path.is_file():
            if path.suffix or len(path.parts) > 1:
                raise FileNotFoundError(f"config file {str(path)!r} does not exist ({what} presets: {names})")
            raise ValueError(
                f"config {str(path)!r} is neither an existing file nor one of the {what} presets ({names})"
            )
        source, text = f"config file {str(path)!r}", path.read_text(encoding="utf-8")
    data = _parse_yaml(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{source} must hold a YAML mapping of sections, got {type(data).__name__}")
    return data


def _known(schema: type) -> str:
    types_ = field_types(schema)
    sections = [n for n, tp in types_.items() if is_section(tp)]
    values = [n for n, tp in types_.items() if not is_section(tp)]
    return f"sections {', '.join(sections)}" + (
        f" and key{'s' if len(values) > 1 else ''} {', '.join(values)}" if values else ""
    )


def apply_overrides_to(data: dict, schema: type, overrides: list[str] | None, what: str = "config") -> dict:
    """``data`` (a nested dict, changed in place and returned) with ``section.key=value`` overrides.

    A section the schema has is added when missing (it then starts from the schema's default); a key
    the schema does not have raises :class:`ConfigError` naming it, the value, and what exists.
    """
    types_ = field_types(schema)
    for item in overrides or []:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. train.epochs=3)")
        key, text = item.split("=", 1)
        path = key.strip().split(".")
        if not all(path):
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. train.epochs=3)")
        value = _parse_yaml(text, f"override {item!r}")
        head = path[0]
        if head not in types_:
            raise ConfigError(
                key.strip(),
                f"unknown config section or key `{head}` (got {value!r}); the {what} has {_known(schema)}",
            )
        if len(path) == 1:
            data[head] = value
            continue
        if not is_section(types_[head]):
            raise ConfigError(
                key.strip(), f"`{head}` is a value, not a section (got {value!r}); set it as {head}=VALUE"
            )
        section = data.get(head)
        if section is None:
            section = data[head] = {}
        if not isinstance(section, dict):
            raise ConfigError.expected(head, section, f"a mapping of the `{head}` section's keys")
        _set_in_section(section, types_[head], path, value, key.strip())
    return data


def _set_in_section(section: dict, cls: type, path: list[str], value: Any, key: str) -> None:
    types_ = field_types(cls)
    name = path[1]
    if name not in types_:
        raise ConfigError(key, _unknown_key(path[0], value, types_))
    if len(path) == 2:
        section[name] = value
        return
    if types_[name] is not dict and getattr(types_[name], "__origin__", None) is not dict:
        raise ConfigError(key, f"`{path[0]}.{name}` is not a mapping (got {value!r} for a key inside it)")
    target = section.get(name)
    if target is None:
        target = section[name] = {}
    for part in path[2:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(key, f"`{part}` is not a mapping (got {value!r} for a key inside it)")
    target[path[-1]] = value


def _unknown_key(section: str, value: Any, types_: dict[str, Any]) -> str:
    return f"unknown key in config section `{section}` (got {value!r}); it has {', '.join(types_)}"


def _default_of(schema: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(schema) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def build_section(cls: type[T], values: dict, name: str, default: Any = None) -> T:
    """Section ``cls`` from ``values`` over ``default`` (an instance, or None for the class defaults);
    errors carry the section ``name`` in their key."""
    types_ = field_types(cls)
    for key, value in values.items():
        if key not in types_:
            raise ConfigError(f"{name}.{key}", _unknown_key(name, value, types_))
    try:
        return dataclasses.replace(default, **values) if default is not None else cls(**values)
    except ConfigError as e:
        raise e.within(name) from None


def build_experiment(schema: type[T], data: dict | None, what: str = "config") -> T:
    """The experiment ``schema`` from a nested dict (a loaded YAML file): every section built over the
    schema's default for it, unknown sections and keys refused, every value checked."""
    data = dict(data or {})
    types_ = field_types(schema)
    for name, value in data.items():
        if name not in types_:
            sub = next(iter(value), None) if isinstance(value, dict) and value else None
            key = f"{name}.{sub}" if sub is not None else name
            shown = value[sub] if sub is not None else value
            raise ConfigError(
                key,
                f"unknown config section or key `{name}` (got {shown!r}); the {what} has {_known(schema)}",
            )
    kwargs: dict[str, Any] = {}
    for name, tp in types_.items():
        if name not in data:
            continue
        value = data[name]
        if is_section(tp):
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError.expected(name, value, f"a mapping of the `{name}` section's keys")
            kwargs[name] = build_section(tp, value, name, _default_of(schema, name))
        else:
            kwargs[name] = value
    return schema(**kwargs)


def load_experiment(
    schema: type[T], path_or_preset: str | Path | None = None, overrides: list[str] | None = None
) -> T:
    """The experiment ``schema`` (with ``NAME`` and ``PRESETS``) from a preset name, a YAML file or its
    defaults (None), with ``section.key=value`` overrides; see the module docstring.

    Raises:
        TypeError, FileNotFoundError: see :func:`read_config_file`. ValueError: invalid YAML, an unknown
        section or key, a value of the wrong type or out of range (a :class:`ConfigError` naming the key,
        the value and what was expected).
    """
    what = f"{schema.NAME} config"
    data = read_config_file(path_or_preset, tuple(schema.PRESETS), schema.NAME)
    return build_experiment(schema, apply_overrides_to(data, schema, overrides, what), what)


def same_section(
    old: dict | None, new: dict | None, defaults: dict | None, free: tuple[str, ...] = ()
) -> bool:
    """Whether a run directory's saved config section ``old`` and the resumed run's ``new`` agree, ignoring
    the keys in ``free`` and the keys ``old`` lacks that ``new`` holds at their ``defaults`` (keys added to
    the schema since the run was started, e.g. ``model.pixel_scaling``)."""
    old, new, defaults = old or {}, new or {}, defaults or {}
    added = {k for k in new if k not in old and k in defaults and new[k] == defaults[k]}
    keep = lambda d: {k: v for k, v in d.items() if k not in free and k not in added}  # noqa: E731
    return keep(old) == keep(new)
