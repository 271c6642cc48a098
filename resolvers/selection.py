"""What a query selects below the field being resolved, so a listing fetches with its page
only what the query will read (and skips a count nobody asked for).

It reads graphql-core's syntax tree of the field (`info._raw_info`), not strawberry's
`info.selected_fields`: that property converts the whole subtree, directives and
arguments included, into strawberry's own nodes on every call, which cost `me` about a
twentieth of its server time to answer whether one field was asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.types import Info


def _condition(node: SelectionNode, directive: str, variables: Mapping[str, Any]) -> bool | None:
    """The `if` of `node`'s @skip or @include: a literal or a variable; None without one."""
    for applied in node.directives or ():
        if applied.name.value != directive:
            continue
        for argument in applied.arguments or ():
            if argument.name.value != "if":
                continue
            value = argument.value
            if isinstance(value, BooleanValueNode):
                return value.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value) is True
    return None


def _included(node: SelectionNode, variables: Mapping[str, Any]) -> bool:
    """False when @skip(if: true) or @include(if: false) leaves `node` out."""
    if not node.directives:
        return True
    return _condition(node, "skip", variables) is not True and (
        _condition(node, "include", variables) is not False
    )


Levels = tuple[frozenset[str], ...]  # a path: at each level, the names that continue it


def _reaches(
    selection_set: SelectionSetNode | None,
    names: Levels,
    fragments: dict[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> bool:
    if selection_set is None:
        return False
    head, rest = names[0], names[1:]
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode | FragmentSpreadNode | InlineFragmentNode):
            continue
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            if selection.name.value in head and (
                not rest or _reaches(selection.selection_set, rest, fragments, variables)
            ):
                return True
            continue
        if isinstance(selection, FragmentSpreadNode):  # a fragment: its fields are ours
            fragment = fragments.get(selection.name.value)
            inner = fragment.selection_set if fragment is not None else None
        else:
            inner = selection.selection_set
        if _reaches(inner, names, fragments, variables):
            return True
    return False


@functools.lru_cache(maxsize=256)
def _levels(path: str) -> Levels:
    return tuple(frozenset(level.split("|")) for level in path.split("."))


def selects(info: Info, path: str) -> bool:
    """Whether the field being resolved selects the dotted `path` of field names below it,
    such as "edges.node.owner", directly or in fragments. A level may name alternatives,
    any of which will do: "email|isActive" asks for either, in one walk of the tree.

    A fragment's type condition is not checked: a field it names counts as selected.
    """
    raw = info._raw_info
    names = _levels(path)
    # graphql-core annotates VariableValues (`.coerced`), but the executor hands over a dict.
    given: Any = raw.variable_values
    variables: Mapping[str, Any] = getattr(given, "coerced", given)
    fragments = raw.fragments
    return any(
        _reaches(node.selection_set, names, fragments, variables) for node in raw.field_nodes
    )
