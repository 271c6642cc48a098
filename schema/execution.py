"""The executor every operation runs on: graphql-core's, with a shortcut for plain leaf fields.

A field of ours that strawberry resolves by reading an attribute (no resolver, no field
extension) and whose type is a scalar or an enum costs graphql-core a resolve-info tuple, a
call through strawberry's resolver wrapper and three levels of value completion, several
microseconds for a value read from an attribute. A page of 20 agents with five such fields
each is 100 of them. Here such a field is answered with the attribute's value coerced by its
type, as the full path would; anything out of the ordinary (null, an awaitable, a value its
type refuses, an exception) takes graphql-core's full path, which reports it as it always
did. Field middleware (a schema extension with a resolve hook) turns the shortcut off for
the operation, so such an extension still sees every field.

The deadline checks of schema/time_limit.py run once per object (TimeLimitedExecution).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.pyutils import Undefined
from strawberry.types.field import StrawberryField

from schema.time_limit import TimeLimitedExecution

# (type name, field name) -> (attribute, leaf type) for the schema's plain leaf fields.
PlainFields = dict[tuple[str, str], tuple[str, GraphQLLeafType]]
_plain_by_schema: dict[GraphQLSchema, PlainFields] = {}
BASIC_RESOLVER = "_get_basic_result"  # strawberry's resolver of a field without one


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
                and getattr(field.resolve, "__name__", None) == BASIC_RESOLVER
                and not field.args
                and isinstance(leaf, GraphQLScalarType | GraphQLEnumType)
            ):
                found[type_name, field_name] = (definition.python_name, leaf)
    _plain_by_schema[schema] = found
    return found


class Execution(TimeLimitedExecution):
    """graphql-core's executor with the plain-field shortcut (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
