"""Grouped fan-out: subscribers that would compute the same frames share one execution.

Strawberry runs a subscription's selection set once per subscriber per event. When several
websockets of this process run the same live-only subscription (same document, operation,
variables) as the same principal (same user and permissions, so every authorisation and
filter decides alike), one execution per event serves them all: a `Group` owns the one
subscription stream, runs it with its own context (fresh DataLoaders per event, as every
subscription event gets), serialises each result once and offers the text to each member's
bounded queue. A slow member loses its own oldest frames (counted in `dropped`; visible as a
jump in `sequence`) and never slows the others. The last member to leave stops the stream.

Only subscriptions whose results do not depend on when one joined are grouped: one root
field among GROUPABLE_FIELDS with no argument but `agentId` (so no `since` replay and no
`throttleMs` coalescing, whose state is per subscriber), no directive on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any, Literal

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.schema.base import BaseSchema
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from core.tasks import cancel_and_wait
from db.pubsub import SUBSCRIBER_QUEUE_SIZE
from resolvers.context import Context

log = logging.getLogger(__name__)

GROUPABLE_FIELDS = frozenset({"agentEvents", "metrics", "consciousnessStateChanged"})
GROUPABLE_ARGUMENTS = frozenset({"agentId"})
GROUPABLE_DOCUMENTS_CACHED = 1024
# A dashboard's subscription is a few hundred bytes. Longer documents run ungrouped, so this
# parse (before strawberry's limits apply) stays cheap and the cache holds at most ~4 MB.
GROUPABLE_MAX_CHARS = 4096

# ("next", '{"data": …}') for a result, encoded once; ("error", [formatted errors]) when the
# operation failed before executing (the protocols send those as an error message).
Item = tuple[Literal["next"], str] | tuple[Literal["error"], list[Any]]
GroupKey = tuple[Hashable, ...]


@functools.lru_cache(maxsize=GROUPABLE_DOCUMENTS_CACHED)
def is_groupable(query: str, operation_name: str | None) -> bool:
    """Whether the operation is a subscription every subscriber can join at any time."""
    try:
        document = parse(query)
    except GraphQLError:
        return False  # strawberry reports it, ungrouped
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return False
    selections = operations[0].selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return False
    root = selections[0]
    return (
        root.name.value in GROUPABLE_FIELDS
        and not root.directives
        and all(argument.name.value in GROUPABLE_ARGUMENTS for argument in root.arguments or ())
    )


def group_key(
    context: Context, query: str, variables: object, operation_name: str | None
) -> GroupKey | None:
    """Who may share this operation's frames, or None when it must run on its own."""
    principal = context.current_principal
    if (
        principal is None
        or len(query) > GROUPABLE_MAX_CHARS
        or not is_groupable(query, operation_name)
    ):
        return None
    try:
        encoded_variables = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return (query, operation_name, encoded_variables, principal.user_id, principal.permissions)


class Member:
    """One subscriber of a group: a bounded queue of items, the oldest dropped when full."""

    def __init__(self, maxsize: int) -> None:
        self.dropped = 0
        self._maxsize = maxsize
        self._items: deque[Item] = deque()
        self._ended = False
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()

    async def drained(self) -> None:
        """Return once every queued item was taken (for shutdown's draining)."""
        await self._drained.wait()

    def offer(self, item: Item) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._drained.clear()
        self._wakeup.set()

    def end(self) -> None:
        self._ended = True
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[Item]:
        return self

    async def __anext__(self) -> Item:
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        if not self._items:
            self._drained.set()
        return item


class Group:
    """One shared execution and the members it feeds; ends when the stream or members do."""

    def __init__(self, source: AsyncIterator[Item]) -> None:
        self.members: set[Member] = set()
        self.executions = 0  # results computed, once for all members
        self._source = source
        self.task: asyncio.Task[None] = asyncio.create_task(self._run(), name="fanout-group")

    @property
    def finished(self) -> bool:
        return self.task.done()

    async def _run(self) -> None:
        try:
            async for item in self._source:
                self.executions += 1
                for member in self.members:
                    member.offer(item)
        except Exception:
            log.exception("a grouped subscription failed")
        finally:
            for member in self.members:
                member.end()


class FanOutGroups:
    """The groups of this process, by (document, operation, variables, principal)."""

    def __init__(self, member_queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.groups: dict[GroupKey, Group] = {}
        self._member_queue_size = member_queue_size

    @contextlib.asynccontextmanager
    async def join(
        self, key: GroupKey, start: Callable[[], AsyncIterator[Item]]
    ) -> AsyncIterator[Member]:
        """A member of the group `key`, starting it with `start()` when there is none."""
        group = self.groups.get(key)
        if group is None or group.finished:
            group = self.groups[key] = Group(start())
        member = Member(self._member_queue_size)
        group.members.add(member)
        try:
            yield member
        finally:
            group.members.discard(member)
            if not group.members:
                if self.groups.get(key) is group:
                    del self.groups[key]
                await cancel_and_wait(group.task)


def encode_result(result: ExecutionResult) -> str:
    """A result's protocol payload, {"data", "errors"?, "extensions"?}, as JSON text."""
    payload: dict[str, object] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return orjson.dumps(payload).decode()


async def execute_encoded(
    schema: BaseSchema,
    context: Context,
    query: str,
    variables: dict[str, object] | None,
    operation_name: str | None,
) -> AsyncIterator[Item]:
    """Run the subscription once, as `context`'s principal, yielding each result encoded."""
    stream = await schema.subscribe(
        query,
        variable_values=variables,
        context_value=context.fork(),
        operation_name=operation_name,
    )
    async with aclosing(stream):
        first = True
        async for result in stream:
            if first and isinstance(result, PreExecutionError):
                yield "error", [error.formatted for error in result.errors or []]
                return
            first = False
            yield "next", encode_result(result)
