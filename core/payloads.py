"""Records that travel as JSON payloads: one mixin turning a frozen dataclass into a dict and back.

A payload is keyed by field name (snake_case); ids and times are strings, enums their names,
tuples lists. `from_payload` checks every value against the field's type and raises
PayloadError (never KeyError or TypeError) for anything that is not such a payload.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self, TypeVar

T = TypeVar("T")


class PayloadError(ValueError):
    """A payload that is not the record it should be (a missing key, a value of another type)."""


class Payload:
    """Mixin for frozen dataclasses: `to_payload()` and `from_payload()` by their fields."""

    __slots__ = ()

    def to_payload(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields, keyed by field name."""
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(_dc(self))}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Self:
        """The record of a `to_payload()` dict; PayloadError when it is not one."""
        if not isinstance(payload, Mapping):
            raise PayloadError(f"a {cls.__name__} payload must be an object")
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(_dc(cls)):
            if f.name not in payload:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise PayloadError(f"a {cls.__name__} payload has no {f.name}")
                continue
            try:
                values[f.name] = _load(hints[f.name], payload[f.name])
            except (KeyError, TypeError, ValueError) as exc:
                raise PayloadError(f"{cls.__name__}.{f.name}: {exc}") from exc
        return cls(**values)


def _dc(value: object) -> Any:
    """`value` for dataclasses.fields (the mixin is only ever mixed into dataclasses)."""
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of `cls`, computed once."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _dump(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return [_dump(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _load(hint: Any, value: object) -> object:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        (only,) = options
        return _load(only, value)
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple(_load(item_hint, item) for item in value)
    if (origin is not None and issubclass(origin, Mapping)) or hint is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint[_expect(value, str)]
    if hint is uuid.UUID:
        return uuid.UUID(_expect(value, str))
    if hint is datetime:
        return datetime.fromisoformat(_expect(value, str))
    if hint is bool:
        return _expect(value, bool)
    if hint is int:
        if isinstance(value, bool):
            raise TypeError("expected an integer, got a boolean")
        return _expect(value, int)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {type(value).__name__}")
        return float(value)
    if hint is str:
        return _expect(value, str)
    raise TypeError(f"no payload conversion for {hint!r}")


def _expect(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value
