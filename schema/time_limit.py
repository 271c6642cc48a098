"""The wall-time limit of one query or mutation: interrupted between fields, or while it waits.

An operation may run for OPERATION_TIME_LIMIT_SECONDS when the caller is signed in, and for
OPERATION_TIME_LIMIT_ANONYMOUS_SECONDS (the smaller) when not, counted from the moment it
starts executing. Two checks hold it to that:
- between the objects of a query: before it resolves the fields of each object (the root's
  included), the executor compares the request's clock with the deadline, so work done on
  the event loop itself (introspection, a long list of objects) stops at the next object
  instead of blocking every other request; once per object rather than per field, as a
  page's objects have several fields each and the fields of one object are few (aliases
  and cost are capped);
- while a query or a mutation waits: `asyncio.timeout` cancels what it awaits (a store, or
  the engine's worker thread, whose one call then finishes on its own and is dropped).

Either way the answer is one `BAD_USER_INPUT` error naming the setting, with `data` null,
and a database transaction the operation had open is rolled back by the cancellation.
Mutations are not stopped between fields: once a mutation's write is done (a cancellation
can be lost inside a driver's own `wait_for` on Python 3.11, and the write then completes)
it answers with what it did rather than claim a refusal. A mutation of several root fields
cancelled in its second keeps what the first wrote. Subscriptions have no limit: they run
as long as their client listens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from core.clock import Clock
from core.errors import BadUserInput


@dataclass
class Deadline:
    """When the running operation must have finished, on the request's clock and the loop's."""

    clock: Clock
    at: float  # clock.monotonic() scale
    loop_at: float  # the event loop's time() scale, for asyncio.timeout_at
    seconds: float
    setting: str
    passed: bool = field(default=False, init=False)

    def check(self) -> None:
        """Raise OutOfTime once the deadline is behind us (remembering that it is)."""
        if self.clock.monotonic() >= self.at:
            self.passed = True
            raise OutOfTime

    def refusal(self) -> ExecutionResult:
        error = BadUserInput(
            f"the operation ran longer than {self.seconds:g} s, the most allowed ({self.setting});"
            " ask for less at once",
            limit=self.setting,
            maximum=self.seconds,
        )
        return ExecutionResult(
            data=None, errors=[GraphQLError(error.message, original_error=error)]
        )


class OutOfTime(Exception):
    """Raised by the executor at an object once the deadline has passed."""


_running: ContextVar[Deadline | None] = ContextVar("operation_deadline", default=None)


@contextlib.contextmanager
def time_limited(clock: Clock, seconds: float, setting: str) -> Iterator[None]:
    """Hold the operation executed inside to `seconds` (0: no limit)."""
    if seconds <= 0:
        yield
        return
    loop = asyncio.get_running_loop()
    deadline = Deadline(clock, clock.monotonic() + seconds, loop.time() + seconds, seconds, setting)
    token = _running.set(deadline)
    try:
        yield
    finally:
        _running.reset(token)


class TimeLimitedExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, checking the running operation's deadline (module docstring)."""

    # The deadline each object checks: decided once per operation, None for a mutation.
    _field_deadline: Deadline | None = None

    def execute_fields(self, *args: Any, **kwargs: Any) -> Any:
        if self._field_deadline is not None:
            self._field_deadline.check()
        return super().execute_fields(*args, **kwargs)

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        deadline = _running.get()
        if deadline is None:
            return super().execute_operation(*args, **kwargs)
        if self.operation.operation is not OperationType.MUTATION:
            self._field_deadline = deadline
        try:
            result = super().execute_operation(*args, **kwargs)
        except OutOfTime:  # a root field's: nothing of the operation caught it
            return deadline.refusal()
        if self.is_awaitable(result):
            return _within(result, deadline)
        return deadline.refusal() if deadline.passed else result


async def _within(result: Awaitable[Any], deadline: Deadline) -> Any:
    try:
        async with asyncio.timeout_at(deadline.loop_at):
            awaited = await result
    except (TimeoutError, OutOfTime):
        return deadline.refusal()
    return deadline.refusal() if deadline.passed else awaited
