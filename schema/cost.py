"""The cost of a GraphQL operation: a number computed from the document before it runs.

The cost approximates the work an operation asks for, in "objects fetched":

- a field that returns an object (or a list of objects) costs its weight, 1 unless
  FIELD_WEIGHTS says otherwise (fields that run the engine or query ClickHouse weigh more);
  a field that returns a scalar or an enum costs 0 unless FIELD_WEIGHTS says otherwise;
- a field with an integer page-size argument (`first`, `last` or `limit`, or `limit`
  inside an input-object argument, like `analytics(query: {limit: …})`) pays its weight
  once and then 1 plus the cost of its selections per item it may return:
  cost = weight + size * (1 + cost of its selections). When the argument is absent its
  default in the schema applies (e.g. `agents(first: Int! = 20)`,
  `recentSessions(first: Int! = 5)`; the SDL shows them all);
- a list field without a size argument (`edges`, `violations`, `stores`, …) is paid once:
  its length is bounded by its parent's page or by the server;
- fragments count where they are spread, inline fragments of every type condition are
  added up (an upper bound);
- introspection costs what it walks, whatever its selection (an upper bound): `__schema`
  the number of elements in the schema (types, fields, arguments, input fields, enum
  values, directives; about 800 here, so a full introspection query costs about as much as
  eight pages of 100 agents), `__type` those of the largest type; `__typename` is free.
  Thirty aliased `__schema` trees are thirty full introspections (about 1.4 s of CPU):
  besides this cost, MAX_QUERY_INTROSPECTIONS caps how many one operation may hold.

Variables are read from the request, so `agents(first: $n)` costs what `$n` asks for.
A size that is not a positive integer (a bad variable, say) counts as the default, and a
size above MAX_COUNTED_SIZE (the largest any resolver accepts) counts as that: both are
left for the resolver to refuse with an error naming the argument. Every fragment's cost
is computed once per request, so a document of nested fragment spreads costs linear time
to measure. The cost of an operation that reads no variable depends on its document alone,
so it is kept per document object (the parse cache hands the same one out for the same
text) for the next request: `me` measured its own cost on every call.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.pyutils import Undefined
from graphql.utilities import get_operation_ast

from core.lru import LRU

SIZE_ARGUMENTS: Final = ("first", "last", "limit")
"""Integer arguments read as "how many items this field returns"."""

INPUT_SIZE_FIELD: Final = "limit"
"""The field of an input-object argument read as the page size (AnalyticsQuery.limit)."""

MAX_COUNTED_SIZE: Final = 1000
"""Sizes above this count as this: no resolver returns more (MAX_PAGE_SIZE 100, analytics'
MAX_LIMIT 1000; a test keeps this in step)."""

DEFAULT_OBJECT_WEIGHT: Final = 1
DEFAULT_SCALAR_WEIGHT: Final = 0

FIELD_WEIGHTS: Final[Mapping[tuple[str, str], int]] = MappingProxyType(
    {
        # The engine runs: a full pipeline, or one part of it.
        ("Mutation", "process"): 10,
        ("Query", "selfAwareness"): 5,
        ("Query", "ethicalEvaluation"): 5,
        ("Query", "metaCognition"): 5,
        # A ClickHouse query each.
        ("Query", "analytics"): 5,
        ("Query", "timeSeries"): 5,
        ("Query", "compareAgents"): 5,
        ("Query", "comparePeriods"): 5,
        ("Mutation", "exportAnalytics"): 10,
        # Argon2id hashing (~30 ms of CPU).
        ("Mutation", "register"): 10,
        ("Mutation", "login"): 10,
        # Every table and the analytics store of one user.
        ("Mutation", "exportMyData"): 50,
        ("Mutation", "deleteMyAccount"): 50,
    }
)
"""Weights that differ from the defaults, by (parent type, field name)."""


@functools.cache
def introspection_weights(schema: GraphQLSchema) -> Mapping[str, int]:
    """The cost of `__schema` (every element of the schema) and of `__type` (the largest type).

    An element is a type, a field, an argument, an input field, an enum value or a
    directive: what a full introspection returns one object for (and more, for the
    `ofType` chains of wrapped types, which this leaves out).
    """

    def elements(named: GraphQLNamedType) -> int:
        total = 1
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            total += sum(1 + len(field.args) for field in named.fields.values())
        elif isinstance(named, GraphQLInputObjectType):
            total += len(named.fields)
        elif isinstance(named, GraphQLEnumType):
            total += len(named.values)
        return total

    sizes = [elements(named) for named in schema.type_map.values()]
    directives = sum(1 + len(directive.args) for directive in schema.directives)
    return MappingProxyType({"__schema": sum(sizes) + directives, "__type": max(sizes)})


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self._fragment_costs: dict[str, int] = {}
        self._visiting: set[str] = set()
        self.read_variables = False  # whether the cost depends on the request's variables

    def selection_set(self, parent: Any, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(target, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self._fragment_costs:
            return self._fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._visiting:  # unknown or cyclic: validation says
            return 0
        self._visiting.add(name)
        target = self.schema.get_type(definition.type_condition.name.value)
        cost = self.selection_set(target, definition.selection_set)
        self._visiting.discard(name)
        self._fragment_costs[name] = cost
        return cost

    def field(self, parent: Any, node: FieldNode) -> int:
        name = node.name.value
        if name.startswith("__"):
            return introspection_weights(self.schema).get(name, 0)
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0  # unions have no fields but __typename; unknown types: validation says
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        return_type = get_named_type(definition.type)
        default = DEFAULT_OBJECT_WEIGHT if is_composite_type(return_type) else DEFAULT_SCALAR_WEIGHT
        weight = FIELD_WEIGHTS.get((parent.name, name), default)
        children = (
            self.selection_set(return_type, node.selection_set)
            if isinstance(return_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)
            else 0
        )
        size = self.size(definition.args, node)
        return weight + children if size is None else weight + size * (1 + children)

    def size(self, arguments: Mapping[str, GraphQLArgument], node: FieldNode) -> int | None:
        """How many items the field may return: its size argument; None without one."""
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in SIZE_ARGUMENTS:
            argument = arguments.get(name)
            if argument is not None and get_named_type(argument.type) is GraphQLInt:
                return self._positive(self._value(given.get(name)), argument.default_value)
        for name, argument in arguments.items():
            input_type = get_named_type(argument.type)
            if not isinstance(input_type, GraphQLInputObjectType):
                continue
            size_field = input_type.fields.get(INPUT_SIZE_FIELD)
            if size_field is None or get_named_type(size_field.type) is not GraphQLInt:
                continue
            value = self._value(given.get(name))
            inner = value.get(INPUT_SIZE_FIELD, Undefined) if isinstance(value, Mapping) else None
            return self._positive(inner, size_field.default_value)
        return None

    def _value(self, node: ValueNode | None) -> Any:
        """The Python value of an argument node: literals, variables and input objects."""
        if node is None:
            return Undefined
        if isinstance(node, VariableNode):
            self.read_variables = True
            return self.variables.get(node.name.value, Undefined)
        if isinstance(node, IntValueNode):
            try:
                return int(node.value)
            except ValueError:
                return Undefined
        if isinstance(node, ObjectValueNode):
            return {item.name.value: self._value(item.value) for item in node.fields}
        return Undefined

    @staticmethod
    def _positive(value: Any, default: Any) -> int:
        for candidate in (value, default):
            if isinstance(candidate, int) and not isinstance(candidate, bool) and candidate > 0:
                return min(candidate, MAX_COUNTED_SIZE)
        return 1


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of the operation `operation_name` of `document` (see the module docstring).

    0 when the document has no such operation: strawberry refuses it on its own.
    """
    key = (id(schema), id(document), operation_name)
    kept = _kept_costs.get(key)
    if kept is not None:  # the entry holds the schema and document: their ids are theirs
        return kept[2]
    operation: OperationDefinitionNode | None = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    walker = _CostWalker(schema, fragments, variables or {})
    cost = walker.selection_set(root, operation.selection_set)
    loc = document.loc
    if not walker.read_variables and loc is not None and loc.end <= CACHED_QUERY_CHARS:
        _kept_costs.put(key, (schema, document, cost))  # the objects pin the ids' meaning
    return cost


# The documents the parse, validation and cost caches keep (schema/pipeline.py): how many,
# and the longest (a longer one is new with every comment a client adds).
CACHED_DOCUMENTS: Final = 1024
CACHED_QUERY_CHARS: Final = 8_000
_kept_costs: LRU[tuple[int, int, str | None], tuple[GraphQLSchema, DocumentNode, int]] = LRU(
    CACHED_DOCUMENTS
)
