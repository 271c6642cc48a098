"""Our one extension's hooks, run without strawberry's per-operation wrapping.

For every operation strawberry's SchemaExtensionsRunner builds four context managers, and
each of them looks up every extension's hook and wraps it in a new decorator
(contextlib.contextmanager over a bound method: functools.update_wrapper and an exit
stack each time) whether the extension defines the hook or not. With OperationPipeline
alone, whose hooks are known when this module loads, that bookkeeping cost more than the
hooks' own work (`make profile OP=me`). PipelineRunner enters the two hooks directly and
answers the other two with one shared context manager that does nothing. When other
extensions join in (tracing), strawberry's runner runs them all as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types.execution import ExecutionContext

from schema.pipeline import OperationPipeline

_OPERATION: Callable[[OperationPipeline], contextlib.AbstractContextManager[None]] = (
    contextlib.contextmanager(OperationPipeline.on_operation)
)
_EXECUTE: Callable[[OperationPipeline], contextlib.AbstractAsyncContextManager[None]] = (
    contextlib.asynccontextmanager(OperationPipeline.on_execute)
)
_UNUSED_HOOKS = ("on_parse", "on_validate")


def _hook_is_unused(name: str) -> bool:
    return getattr(OperationPipeline, name) is getattr(SchemaExtension, name)


if not all(map(_hook_is_unused, _UNUSED_HOOKS)):  # pragma: no cover - a guard for edits
    raise TypeError(f"PipelineRunner skips {_UNUSED_HOOKS}: OperationPipeline now defines one")


class _Nothing:
    """A context manager for a stage no extension hooks into; stateless, so one is shared."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NOTHING = _Nothing()


class _SyncHook:
    """A generator hook entered from strawberry's async path as well as its sync one."""

    __slots__ = ("_hook",)

    def __init__(self, hook: contextlib.AbstractContextManager[None]) -> None:
        self._hook = hook

    def __enter__(self) -> None:
        self._hook.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        return self._hook.__exit__(kind, error, trace)

    async def __aenter__(self) -> None:
        self._hook.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self.__exit__(*exc_info)


class PipelineRunner(SchemaExtensionsRunner):
    """Strawberry's runner for an operation whose only extension is OperationPipeline."""

    def __init__(self, execution_context: ExecutionContext, pipeline: OperationPipeline) -> None:
        super().__init__(execution_context, [pipeline])
        self._pipeline = pipeline

    def operation(self) -> Any:
        return _SyncHook(_OPERATION(self._pipeline))

    def parsing(self) -> Any:
        return _NOTHING

    def validation(self) -> Any:
        return _NOTHING

    def executing(self) -> Any:
        return _EXECUTE(self._pipeline)


def extensions_runner(
    execution_context: ExecutionContext, extensions: list[SchemaExtension]
) -> SchemaExtensionsRunner:
    """PipelineRunner when our extension runs alone, else strawberry's own runner."""
    if len(extensions) == 1 and type(extensions[0]) is OperationPipeline:
        return PipelineRunner(execution_context, extensions[0])
    return SchemaExtensionsRunner(execution_context, extensions)
