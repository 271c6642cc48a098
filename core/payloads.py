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
from collections.abc import Callable, Mapping
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
        return {name: _dump(getattr(self, name)) for name in _field_names(type(self))}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Self:
        """The record of a `to_payload()` dict; PayloadError when it is not one."""
        if not isinstance(payload, Mapping):
            raise PayloadError(f"a {cls.__name__} payload must be an object")
        values: dict[str, Any] = {}
        for name, load, required in _field_loaders(cls):
            if name not in payload:
                if required:
                    raise PayloadError(f"a {cls.__name__} payload has no {name}")
                continue
            try:
                values[name] = load(payload[name])
            except (KeyError, TypeError, ValueError) as exc:
                raise PayloadError(f"{cls.__name__}.{name}: {exc}") from exc
        return cls(**values)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """The field names of `cls`, read once (a metrics row is made a payload per event)."""
    if cls not in _FIELD_NAMES:
        _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(_dc(cls)))
    return _FIELD_NAMES[cls]


def _dc(value: object) -> Any:
    """`value` for dataclasses.fields (the mixin is only ever mixed into dataclasses)."""
    return value


Load = Callable[[object], object]


FieldLoaders = tuple[tuple[str, Load, bool], ...]
_FIELD_LOADERS: dict[type, FieldLoaders] = {}


def _field_loaders(cls: type) -> FieldLoaders:
    """Per field of `cls`, built once: its name, its value's loader, whether it is required.

    The loader is chosen from the type hint once, not per value: from_payload runs per
    event per subscription.
    """
    if cls not in _FIELD_LOADERS:
        hints = typing.get_type_hints(cls)
        _FIELD_LOADERS[cls] = tuple(
            (
                f.name,
                _loader(hints[f.name]),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(_dc(cls))
        )
    return _FIELD_LOADERS[cls]


_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON as they are: most values


def _dump(value: object) -> object:
    if type(value) in _PLAIN:
        return value
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


def _loader(hint: Any) -> Load:
    """The function turning a payload value into a `hint` (TypeError or ValueError if not one)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (only,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        load_only = _loader(only)
        return lambda value: None if value is None else load_only(value)
    if origin is tuple:
        load_item = _loader(typing.get_args(hint)[0])

        def load_tuple(value: object) -> object:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            return tuple(load_item(item) for item in value)

        return load_tuple
    if (origin is not None and issubclass(origin, Mapping)) or hint is dict:
        return _load_object
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return lambda value: hint[_expect(value, str)]
    if hint in _LOADERS:
        return _LOADERS[hint]
    raise TypeError(f"no payload conversion for {hint!r}")


def _load_object(value: object) -> object:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _load_int(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    return _expect(value, int)


def _load_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


_LOADERS: dict[Any, Load] = {
    uuid.UUID: lambda value: uuid.UUID(_expect(value, str)),
    datetime: lambda value: datetime.fromisoformat(_expect(value, str)),
    bool: lambda value: _expect(value, bool),
    int: _load_int,
    float: _load_float,
    str: lambda value: _expect(value, str),
}


def _expect(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value
