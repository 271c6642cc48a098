"""The executor every operation runs on: graphql-core's, with shortcuts for our plain fields.

A field of ours that strawberry resolves by reading an attribute (no resolver, no field
extension) and whose type is a scalar or an enum costs graphql-core a resolve-info tuple, a
call through strawberry's resolver wrapper and three levels of value completion, several
microseconds for a value read from an attribute. A page of 20 agents with five such fields
each is 100 of them. Here such a field is answered with the attribute's value coerced by its
type, as the full path would; anything out of the ordinary (null, an awaitable, a value its
type refuses, an exception) takes graphql-core's full path, which reports it as it always
did. Field middleware (a schema extension with a resolve hook) turns the shortcut off for
the operation, so such an extension still sees every field.

Fields strawberry calls through its resolver wrapper when nothing of the wrapper is needed
get a lean resolver instead (`use_lean_resolvers`, once, on the built schema): a field with a
resolver method but no arguments and no field extension (Agent.owner, Agent.stats, the
cursors) went through nine calls (info, extension chain, argument conversion) to call one
method; it now calls the method with what strawberry would pass (the source as self, root
or parent; strawberry's Info). A field without a resolver reads its attribute directly.
Fields with arguments, field extensions (permissions, rate limits) or async resolvers
keep strawberry's resolvers.

The deadline checks of schema/time_limit.py run once per object (TimeLimitedExecution).

graphql-core's executor holds its resolve-info helpers, which hold two of its bound methods:
a reference cycle per operation, so everything the operation reached (the request, its
context, the loaders, the parsed variables: about 54 objects for `me`) outlived it until the
cyclic collector found it. With the server's collector tuning (server/heap.py) each youngest-
generation collection then walked ~87,000 such objects, 30-90 ms every ~1,700 `me` calls.
Here the helpers reach the executor through a weak reference, so an operation's objects
are freed by reference counting as soon as it ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.pyutils import Undefined, gather_with_cancel
from strawberry.types.field import StrawberryField

from schema.time_limit import TimeLimitedExecution

Resolver = Callable[..., Any]
BASIC_RESOLVER = "_get_basic_result"  # strawberry's resolver of a field without one
STRAWBERRY_RESOLVER = "_resolver"  # strawberry's resolver of a sync field with a method
ATTRIBUTE_RESOLVERS = (BASIC_RESOLVER, "read_attribute")  # strawberry's, and our lean one

# (type name, field name) -> (attribute, leaf type) for the schema's plain leaf fields.
PlainFields = dict[tuple[str, str], tuple[str, GraphQLLeafType]]
_plain_by_schema: dict[GraphQLSchema, PlainFields] = {}


def plain_leaf_fields(schema: GraphQLSchema) -> PlainFields:
    """The fields of `schema` that strawberry answers with getattr and that return a scalar
    or an enum, with the attribute each reads (made once per schema)."""
    found = _plain_by_schema.get(schema)
    if found is not None:
        return found
    found = {}
    for type_name, named in schema.type_map.items():
        if not isinstance(named, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for field_name, field in named.fields.items():
            definition = field.extensions.get("strawberry-definition")
            leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if (
                isinstance(definition, StrawberryField)
                and definition.is_basic_field
                and definition.default_resolver is getattr
                and getattr(field.resolve, "__name__", None) in ATTRIBUTE_RESOLVERS
                and not field.args
                and isinstance(leaf, GraphQLScalarType | GraphQLEnumType)
            ):
                found[type_name, field_name] = (definition.python_name, leaf)
    _plain_by_schema[schema] = found
    return found


def use_lean_resolvers(schema: strawberry.Schema) -> int:
    """Give the fields of `schema` that need nothing of strawberry's resolver wrapper a lean
    resolver (see the module docstring); returns how many. Only for schemas without
    exception handlers, whose wrapper would catch what a resolver raises."""
    if schema.exception_handlers:
        return 0
    info_class = schema.config.info_class
    count = 0
    for type_name, named in schema._schema.type_map.items():
        if not isinstance(named, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = field.extensions.get("strawberry-definition")
            if not isinstance(definition, StrawberryField) or definition.extensions or field.args:
                continue
            name = getattr(field.resolve, "__name__", None)
            lean: Resolver | None = None
            if name == BASIC_RESOLVER and definition.default_resolver is getattr:
                lean = _attribute_resolver(definition.python_name)
            elif (
                name == STRAWBERRY_RESOLVER
                and definition.base_resolver is not None
                and not definition.is_async
                and not definition.arguments
            ):
                lean = _method_resolver(definition, info_class)
            if lean is not None:
                field.resolve = lean
                count += 1
    return count


def _attribute_resolver(attribute: str) -> Resolver:
    def read_attribute(source: Any, info: Any) -> Any:
        return getattr(source, attribute)

    read_attribute._is_default = True  # type: ignore[attr-defined]  # as strawberry marks it
    return read_attribute


def _method_resolver(
    definition: StrawberryField, info_class: type[strawberry.Info]
) -> Resolver | None:
    """Call the field's method as strawberry's get_arguments would: the source as self (or
    as its root/parent parameter), strawberry's Info as its info parameter."""
    resolver = definition.base_resolver
    method: object = None if resolver is None else resolver.wrapped_func
    if resolver is None or not callable(method):
        return None  # strawberry's wrapper reports it
    with_self = resolver.self_parameter is not None
    source_names = [
        parameter.name
        for parameter in (resolver.parent_parameter, resolver.root_parameter)
        if parameter is not None
    ]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None

    def resolve(source: Any, info: Any) -> Any:
        kwargs = dict.fromkeys(source_names, source)
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=definition)
        return method(source, **kwargs) if with_self else method(**kwargs)

    resolve._is_default = False  # type: ignore[attr-defined]
    return resolve


class Execution(TimeLimitedExecution):
    """graphql-core's executor with the plain-field shortcut (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_without_cycle(self)
        middleware = self.middleware_manager
        self._plain = (
            plain_leaf_fields(self.schema)
            if middleware is None or not middleware.middlewares
            else {}
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        plain = self._plain.get((parent_type.name, field_details_list[0].node.name.value))
        if plain is not None:
            attribute, leaf = plain
            try:
                value = getattr(source, attribute)
                if value is not None and not self.is_awaitable(value):
                    coerced = leaf.coerce_output_value(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: S110 - the full path below reports it
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


def _helpers_without_cycle(executor: Execution) -> GraphQLResolveInfoHelpers:
    """graphql-core's resolve-info helpers for `executor`, holding it weakly (see the module
    docstring). `track` runs only while a field of the operation completes, so the executor
    is alive then; `gather` (graphql-core's own) needs nothing of it."""
    owner = weakref.ref(executor)

    def track(values: Sequence[Any]) -> None:
        live = owner()
        if live is None:
            raise RuntimeError("async work tracked after its operation's executor was freed")
        live.track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=_gather, track=track)


def _gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
    """graphql-core's `gather_async_work`, which uses nothing of its executor: one function
    for every operation instead of a closure each."""
    return gather_with_cancel(*values)
