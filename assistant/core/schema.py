"""YAML values into frozen dataclasses, checked on the way: unknown keys are
refused, types are checked against the annotations (int, float, str, bool,
Literal, tuples, mappings of names, unions, nested dataclasses), and a dataclass's own
``__post_init__`` checks raise ``Invalid``. Every error names the key path,
e.g. ``llm.endpoints[1].url: not a URL: 'htp:/x'``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from assistant.core.errors import ConfigError


class Invalid(ValueError):
    """Raised by ``__post_init__`` checks: ``key`` is relative to the section."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise Invalid(key, message)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def build(cls: type, data: Any, path: str = "") -> Any:
    """``data`` (parsed YAML) as the frozen dataclass ``cls``: unknown keys refused,
    types checked, ``__post_init__`` checks run; errors name the key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise ConfigError(f"{_join(path, str(key))}: unknown key (expected one of: {', '.join(names)})")
    kwargs = {key: _convert(hints[key], value, _join(path, key)) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except Invalid as err:
        raise ConfigError(f"{_join(path, err.key)}: {err}") from err
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{path or 'config'}: {err}") from err


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        wanted = " or ".join(_describe(a) for a in args)
        raise ConfigError(f"{path}: expected {wanted}, got {_kind(value)} {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_kind(value)}")
        return tuple(_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is dict:  # names to values, e.g. satellites: {garage: tcp://garage-pi:10700}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping of names, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or not key.strip():
                raise ConfigError(f"{path}: {key!r} is no name")
        return {key: _convert(args[1], item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_kind(value)} {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {_kind(value)} {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {_kind(value)} {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {_kind(value)} {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {path}")


def _describe(hint: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )
