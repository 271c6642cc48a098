"""The executor's shortcut for plain leaf fields answers as graphql-core's full path does:
the same values, the same errors, and every field for an extension that resolves them; the
lean resolvers call a field's method with what strawberry would pass it."""

from __future__ import annotations

import asyncio
import enum
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import strawberry
from graphql import parse
from strawberry.extensions import SchemaExtension

from schema.execution import Execution, plain_leaf_fields, use_lean_resolvers
from schema.schema import schema as app_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Item:
    name: str
    count: int
    colour: Colour
    note: str | None = None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def path(self, info: strawberry.Info) -> str:
        return f"{info.path.prev.key if info.path.prev else ''}/{info.field_name}"

    @strawberry.field
    @staticmethod
    def parent_name(parent: strawberry.Parent[Item]) -> str:
        return parent.name

    @strawberry.field
    def repeat(self, times: int = 2) -> str:
        return self.name * times

    @strawberry.field
    async def later(self) -> str:
        return self.name


ITEMS: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return ITEMS


def make_schema(extensions: list[type[SchemaExtension]] | None = None) -> strawberry.Schema:
    schema = strawberry.Schema(
        query=Query, execution_context_class=Execution, extensions=extensions or []
    )
    use_lean_resolvers(schema)
    return schema


def run(query: str, extensions: list[type[SchemaExtension]] | None = None) -> Any:
    return make_schema(extensions).execute_sync(query)


def test_plain_leaf_fields_are_those_answered_by_an_attribute() -> None:
    schema = strawberry.Schema(query=Query, execution_context_class=Execution)
    plain = plain_leaf_fields(schema._schema)
    assert {field for (type_name, field) in plain if type_name == "Item"} == {
        "name",
        "count",
        "colour",
        "note",
    }  # not `shout` (a resolver), nor `items` (a list of objects)
    assert ("Agent", "name") in plain_leaf_fields(app_schema._schema)
    assert ("Agent", "owner") not in plain_leaf_fields(app_schema._schema)


def test_plain_fields_answer_with_their_coerced_values() -> None:
    ITEMS[:] = [
        Item(name="a", count=2, colour=Colour.RED),
        Item(name="b", count=3, colour=Colour.RED, note="n"),
    ]
    result = run("{ items { name count colour note shout } }")
    assert result.errors is None
    assert result.data == {
        "items": [
            {"name": "a", "count": 2, "colour": "RED", "note": None, "shout": "A"},
            {"name": "b", "count": 3, "colour": "RED", "note": "n", "shout": "B"},
        ]
    }


BAD_ITEMS: list[tuple[Any, str]] = [
    (Item(name=None, count=1, colour=Colour.RED), "Cannot return null for non-nullable field"),  # type: ignore[arg-type]
    (Item(name="x", count="many", colour=Colour.RED), "Int cannot represent non-integer"),  # type: ignore[arg-type]
    (Item(name="y", count=1, colour="blue"), "Enum 'Colour' cannot represent value: 'blue'"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("item", "message"), BAD_ITEMS)
def test_values_a_plain_field_cannot_return_fail_as_on_the_full_path(
    item: Item, message: str
) -> None:
    ITEMS[:] = [item]
    result = run("{ items { name count colour } }")
    [error] = result.errors
    assert message in error.message
    assert error.path in (["items", 0, "name"], ["items", 0, "count"], ["items", 0, "colour"])
    assert result.data is None  # non-null all the way up


def test_an_extension_that_resolves_fields_sees_the_plain_ones_too() -> None:
    seen: list[str] = []

    class Watch(SchemaExtension):
        def resolve(
            self,
            _next: Callable[..., Any],
            root: Any,
            info: Any,
            *args: str,
            **kwargs: Any,
        ) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    ITEMS[:] = [Item(name="a", count=1, colour=Colour.RED)]
    result = run("{ items { name count } }", [Watch])
    assert result.data == {"items": [{"name": "a", "count": 1}]}
    assert seen == ["items", "name", "count"]


def test_lean_resolvers_pass_self_parent_and_info_as_strawberry_does() -> None:
    schema = make_schema()
    item = schema._schema.type_map["Item"].fields  # type: ignore[attr-defined]
    lean = {
        name
        for name, field in item.items()
        if field.resolve.__name__ in ("read_attribute", "resolve")  # ours, not strawberry's
    }
    assert "repeat" not in lean  # it takes an argument
    assert "later" not in lean  # async: strawberry's own resolver
    assert {"name", "shout", "path", "parentName"} <= lean
    ITEMS[:] = [Item(name="ab", count=1, colour=Colour.RED)]
    result = schema.execute_sync("{ items { shout path parentName repeat(times: 3) } }")
    assert result.errors is None
    assert result.data == {
        "items": [{"shout": "AB", "path": "0/path", "parentName": "ab", "repeat": "ababab"}]
    }


async def test_an_async_resolver_still_answers_beside_lean_ones() -> None:
    ITEMS[:] = [Item(name="ab", count=1, colour=Colour.RED)]
    result = await make_schema().execute("{ items { later shout } }")
    assert result.errors is None
    assert result.data == {"items": [{"later": "ab", "shout": "AB"}]}


class OperationContext:
    """A context value a test can hold weakly."""


async def test_an_operation_s_objects_are_freed_as_it_ends_not_by_the_collector() -> None:
    ITEMS[:] = [Item(name="ab", count=1, colour=Colour.RED)]
    schema = make_schema()
    gc.disable()  # only reference counting frees what the operation built
    try:
        context = OperationContext()
        freed = weakref.ref(context)
        result = await schema.execute("{ items { later shout } }", context_value=context)
        del context
        assert result.errors is None
        assert freed() is None
    finally:
        gc.enable()


async def test_the_resolve_info_helpers_track_and_gather_async_work() -> None:
    executor = Execution.build(make_schema()._schema, parse("{ items { name } }"))
    assert isinstance(executor, Execution)
    helpers = executor.async_helpers
    done: list[str] = []

    async def work(name: str) -> str:
        done.append(name)
        return name

    helpers.track([work("tracked"), "not awaitable"])
    assert await helpers.gather([work("a"), work("b")]) == ["a", "b"]
    await asyncio.gather(*executor.background_futures)
    assert sorted(done) == ["a", "b", "tracked"]
