"""The named GraphQL operations behind the REST endpoints, read from operations/*.graphql.

Each operation is cut out of its file with the fragments it uses (graphql-core's
`separate_operations`), so the document executed is only that operation and the size and
cost limits see only what it asks for.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    VariableDefinitionNode,
    parse,
    print_ast,
    separate_operations,
    validate,
)

from schema.schema import schema

OPERATIONS_DIR = Path(__file__).parent / "operations"


@dataclass(frozen=True)
class Operation:
    """One named operation: its executable text, its definition and its single root field."""

    name: str
    text: str
    definition: OperationDefinitionNode
    fragments: Mapping[str, FragmentDefinitionNode]
    root: FieldNode

    @property
    def root_field(self) -> str:
        """The key of the root field in the result's data (its alias, else its name)."""
        return (self.root.alias or self.root.name).value

    @functools.cached_property
    def variables(self) -> dict[str, VariableDefinitionNode]:  # read on every REST request
        return {v.variable.name.value: v for v in self.definition.variable_definitions or ()}


def _operation(name: str, document: DocumentNode) -> Operation:
    definitions = document.definitions
    definition = next(d for d in definitions if isinstance(d, OperationDefinitionNode))
    selections = definition.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        raise ValueError(f"REST operation {name} must select exactly one root field")
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    return Operation(name, print_ast(document), definition, fragments, selections[0])


@functools.cache
def load_operations() -> Mapping[str, Operation]:
    """Every operation of operations/*.graphql by name; a document the schema rejects stops."""
    operations: dict[str, Operation] = {}
    for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
        document = parse(path.read_text(encoding="utf-8"))
        errors = validate(schema._schema, document)
        if errors:
            raise ValueError(f"{path.name}: {errors[0].message}")
        for name, own_document in separate_operations(document).items():
            if name in operations:
                raise ValueError(f"{path.name}: operation {name} is defined twice")
            operations[name] = _operation(name, own_document)
    return operations
