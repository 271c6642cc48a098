"""How the engine's records cross to and from the engine worker processes: through their
constructors, not dataclasses' generic slot pickling.

The engine's records are frozen, slotted dataclasses, which pickle through dataclasses'
`__getstate__`/`__setstate__`: both call `dataclasses.fields()` for every object, and a
result holds dozens (its emotion, ethics findings, reasoning chain, state). A result of
OTLP ingestion's benchmark calls (200 characters in, 200 out) took 180 µs to pickle in the
worker and 185 µs to unpickle here; as (class, field values), rebuilt by the class's own
`__init__`, 60 µs and 85 µs, with equal records. Only multiprocessing's pickler is told
(`ForkingPickler.register`), so nothing else that pickles an engine record changes, and
only records the generated `__init__` rebuilds exactly: every field an argument, no
`__post_init__` (the configuration's validates, so it keeps the generic way).
"""

from __future__ import annotations

import dataclasses
import importlib
import operator
import pkgutil
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any

import engine

Reduced = tuple[type, tuple[Any, ...]]


def rebuilt_by_constructor(cls: type) -> bool:
    """Whether `cls(*values)` rebuilds an instance from its fields' values, in order."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return False
    return all(f.init and not f.kw_only for f in dataclasses.fields(cls))


def _reducer(cls: type) -> Callable[[Any], Reduced]:
    names = [f.name for f in dataclasses.fields(cls)]
    if len(names) == 1:
        (name,) = names
        return lambda record: (type(record), (getattr(record, name),))
    values = operator.attrgetter(*names)  # one C call for every field
    return lambda record: (type(record), values(record))


def engine_records() -> list[type]:
    """Every dataclass the engine's modules define that its constructor rebuilds."""
    found = []
    for module_info in pkgutil.walk_packages(engine.__path__, "engine."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and rebuilt_by_constructor(value)
            ):
                found.append(value)
    return found


def register_engine_records() -> int:
    """Make multiprocessing pickle the engine's records by constructor; how many."""
    records = engine_records()
    for cls in records:
        ForkingPickler.register(cls, _reducer(cls))
    return len(records)
