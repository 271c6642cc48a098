"""Core statements compiled once and run on the driver's connection, past SQLAlchemy's
execution: for the statements `process` runs on every call on PostgreSQL.

SQLAlchemy caches a Core statement's compilation, but each execution still builds an
execution context, walks every parameter through its bind processor, wraps the cursor and
the result, and passes through a greenlet; for `process`'s two statements that was about
600 Python calls a request. A DirectStatement is the statement compiled for the engine's
own dialect (so its JSON serializer and casts are the ones SQLAlchemy would use): the SQL
text with `$n` placeholders and, per placeholder, its parameter's name, its fixed value (a
literal in the statement) and its bind processor. Database.fetch_direct and
Database.execute_direct (db/session.py) run it on a pooled connection's asyncpg
connection, keeping the pool, the turns and the handling of a lost connection.

Rows come back as the driver returns them, so a statement whose result columns need
SQLAlchemy's result processing (a type decorator's, say) is refused when compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ReturnsRows

_REQUIRED = object()  # a parameter the caller must give


@dataclass(frozen=True)
class DirectStatement:
    """One statement's SQL for the driver and how to build its positional arguments."""

    sql: str
    parameters: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]

    @classmethod
    def compile(cls, statement: ReturnsRows, dialect: Dialect) -> DirectStatement:
        """`statement` for `dialect`'s driver; ValueError if the driver's rows or its
        positional placeholders would not do."""
        for column in statement.exported_columns:
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise ValueError(f"column {column.name!r} needs SQLAlchemy's result processing")
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise ValueError(f"the {dialect.name} dialect has no positional placeholders")
        parameters = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            fixed = _REQUIRED if bind.required else bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            parameters.append((name, fixed, processor))
        return cls(compiled.string, tuple(parameters))

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The driver's arguments, in placeholder order, from the named `values`; KeyError
        names a required parameter that is missing."""
        arguments = []
        for name, fixed, processor in self.parameters:
            value = values[name] if fixed is _REQUIRED else fixed
            arguments.append(value if processor is None else processor(value))
        return arguments
