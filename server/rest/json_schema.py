"""JSON Schema (2020-12, as OpenAPI 3.1 uses it) of GraphQL types: inputs, and selections.

Input objects and enums become named components (`#/components/schemas/<Name>`); an
operation's answer is the schema of exactly what its document selects, so it lists every
field the client gets and nothing else. The scalars: UUID and DateTime are formatted
strings, JSON is any value, Int is GraphQL's 32-bit range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
)

JsonSchema = dict[str, Any]
REF_PREFIX: Final = "#/components/schemas/"
INT_RANGE: Final = {"minimum": -(2**31), "maximum": 2**31 - 1}
SCALARS: Final[Mapping[str, JsonSchema]] = {
    "String": {"type": "string"},
    "ID": {"type": "string"},
    "Int": {"type": "integer", **INT_RANGE},
    "Float": {"type": "number"},
    "Boolean": {"type": "boolean"},
    "UUID": {"type": "string", "format": "uuid"},
    "DateTime": {"type": "string", "format": "date-time"},
    "JSON": {"description": "any JSON value"},
}


def closed_object(properties: dict[str, JsonSchema], required: list[str]) -> JsonSchema:
    """An object of exactly these properties (an input: anything else is refused)."""
    schema: JsonSchema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def nullable(schema: JsonSchema) -> JsonSchema:
    """`schema` or null: a type list for plain types, anyOf for references and the rest."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        return {**schema, "type": [kind, "null"]}
    if "type" not in schema and "$ref" not in schema and "anyOf" not in schema:
        return schema  # any value: null included
    return {"anyOf": [schema, {"type": "null"}]}


class SchemaBuilder:
    """Builds schemas of GraphQL types, collecting the named components it refers to."""

    def __init__(self) -> None:
        self.components: dict[str, JsonSchema] = {}

    def _scalar(self, scalar: GraphQLScalarType) -> JsonSchema:
        return dict(SCALARS.get(scalar.name, {"description": scalar.description or scalar.name}))

    def _enum(self, enum: GraphQLEnumType) -> JsonSchema:
        if enum.name not in self.components:
            component: JsonSchema = {"type": "string", "enum": list(enum.values)}
            if enum.description:
                component["description"] = enum.description
            self.components[enum.name] = component
        return {"$ref": REF_PREFIX + enum.name}

    def _input_object(self, input_type: GraphQLInputObjectType) -> JsonSchema:
        if input_type.name not in self.components:
            self.components[input_type.name] = {}  # placeholder: input types may nest
            fields = input_type.fields.items()
            component = closed_object(
                {name: self.input(f.type, f.default_value, f.description) for name, f in fields},
                [
                    name
                    for name, f in fields
                    if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
                ],
            )
            if input_type.description:
                component["description"] = input_type.description
            self.components[input_type.name] = component
        return {"$ref": REF_PREFIX + input_type.name}

    def input(
        self,
        graphql_type: GraphQLInputType,
        default: Any = Undefined,
        description: str | None = None,
    ) -> JsonSchema:
        """The schema of a value of an input type (an argument, a variable, a field)."""
        if isinstance(graphql_type, GraphQLNonNull):
            schema = self._input_of(graphql_type.of_type)
        else:
            schema = nullable(self._input_of(graphql_type))
        if default is not Undefined and default is not None:
            schema = {**schema, "default": _plain(default)}
        if description:
            schema = {**schema, "description": description}
        return schema

    def _input_of(self, graphql_type: GraphQLInputType) -> JsonSchema:
        if isinstance(graphql_type, GraphQLList):
            return {"type": "array", "items": self.input(graphql_type.of_type)}
        if isinstance(graphql_type, GraphQLInputObjectType):
            return self._input_object(graphql_type)
        if isinstance(graphql_type, GraphQLEnumType):
            return self._enum(graphql_type)
        assert isinstance(graphql_type, GraphQLScalarType)
        return self._scalar(graphql_type)

    def output(
        self,
        graphql_type: GraphQLOutputType,
        selection: SelectionSetNode | None,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> JsonSchema:
        """The schema of what `selection` reads from a value of `graphql_type`."""
        if isinstance(graphql_type, GraphQLNonNull):
            return self._output_of(graphql_type.of_type, selection, fragments)
        return nullable(self._output_of(graphql_type, selection, fragments))

    def _output_of(
        self,
        graphql_type: GraphQLOutputType,
        selection: SelectionSetNode | None,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> JsonSchema:
        if isinstance(graphql_type, GraphQLList):
            return {
                "type": "array",
                "items": self.output(graphql_type.of_type, selection, fragments),
            }
        if isinstance(graphql_type, GraphQLEnumType):
            return self._enum(graphql_type)
        if isinstance(graphql_type, GraphQLScalarType):
            return self._scalar(graphql_type)
        assert isinstance(graphql_type, GraphQLObjectType)
        assert selection is not None
        properties: dict[str, JsonSchema] = {}
        for field in _fields(selection, fragments):
            key = (field.alias or field.name).value
            if field.name.value == "__typename":
                properties[key] = {"const": graphql_type.name}
                continue
            definition = graphql_type.fields[field.name.value]
            properties[key] = self.output(definition.type, field.selection_set, fragments)
            if definition.description:
                properties[key] = {**properties[key], "description": definition.description}
        schema: JsonSchema = {
            "type": "object",
            "properties": properties,
            "required": list(properties),
        }
        if graphql_type.description:
            schema["description"] = graphql_type.description
        return schema


def _fields(
    selection: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The fields of a selection set with its fragments spread (our types are concrete)."""
    fields: list[FieldNode] = []
    for node in selection.selections:
        if isinstance(node, FieldNode):
            fields.append(node)
        elif isinstance(node, FragmentSpreadNode):
            fields += _fields(fragments[node.name.value].selection_set, fragments)
        elif isinstance(node, InlineFragmentNode):
            fields += _fields(node.selection_set, fragments)
    return fields


def _plain(value: Any) -> Any:
    """A default value as JSON (graphql-core gives enum defaults as their Python values)."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return (
        getattr(value, "name", value) if not isinstance(value, (str, int, float, bool)) else value
    )
