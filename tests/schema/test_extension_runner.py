"""Our extension alone runs through PipelineRunner, which enters its hooks as strawberry's
runner would: errors still get their codes, limits still refuse, subscriptions still run;
with another extension beside it, strawberry's own runner runs them all."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types.execution import ExecutionContext

from schema.extension_runner import PipelineRunner
from schema.pipeline import OperationPipeline
from schema.schema import NoObserver, schema
from tests.conftest import make_settings


class Counting(SchemaExtension):
    """Counts the operations and executions it sees, as a tracing extension would."""

    seen: list[str] = []

    def on_operation(self) -> Iterator[None]:
        self.seen.append("operation")
        yield

    def on_execute(self) -> Iterator[None]:
        self.seen.append("execute")
        yield


class WithCounting(NoObserver):
    def extensions(self) -> list[SchemaExtension]:
        return [Counting()]


def test_our_extension_alone_gets_the_lean_runner_and_others_strawberrys() -> None:
    context = ExecutionContext(query="{ __typename }", schema=schema, allowed_operations=())
    lean = schema.create_extensions_runner(context, [OperationPipeline()])
    full = schema.create_extensions_runner(context, [Counting(), OperationPipeline()])
    assert type(lean) is PipelineRunner
    assert type(full) is SchemaExtensionsRunner


class Anonymous(SimpleNamespace):
    async def principal(self) -> None:
        return None


async def test_an_operation_runs_and_its_errors_are_coded_through_the_lean_runner() -> None:
    anonymous = Anonymous()
    typename = await schema.execute("{ __typename }", context_value=anonymous)
    assert typename.data == {"__typename": "Query"}
    result = await schema.execute("{ nope }", context_value=anonymous)
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT"}
    syntax = await schema.execute("{", context_value=anonymous)
    assert syntax.errors is not None
    assert syntax.errors[0].extensions == {"code": "BAD_USER_INPUT"}


async def test_limits_refuse_through_the_lean_runner(tmp_path) -> None:  # type: ignore[no-untyped-def]
    context = SimpleNamespace(settings=make_settings(tmp_path, max_query_depth=2), app=None)
    result = await schema.execute("{ systemHealth { stores { name } } }", context_value=context)
    assert result.errors is not None
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["limit"] == "MAX_QUERY_DEPTH"


async def test_with_another_extension_both_run() -> None:
    Counting.seen = []
    schema.observe_with(WithCounting())
    try:
        result = await schema.execute("{ nope }", context_value=Anonymous())
    finally:
        schema.observe_with(NoObserver())
    assert Counting.seen == ["operation"]  # a validation error: nothing executes
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT"}
