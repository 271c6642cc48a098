"""What a query selects below the field being resolved, so a listing fetches with its page
only what the query will read (and skips a count nobody asked for)."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.types.nodes import SelectedField, Selection


def _included(selection: Selection) -> bool:
    """False when @skip(if: true) or @include(if: false) leaves `selection` out."""
    skip = selection.directives.get("skip", {}).get("if", False)
    include = selection.directives.get("include", {}).get("if", True)
    return not skip and bool(include)


def _reaches(selections: Sequence[Selection], names: list[str]) -> bool:
    head, *rest = names
    for selection in selections:
        if not _included(selection):
            continue
        if not isinstance(selection, SelectedField):  # a fragment: its fields are ours
            if _reaches(selection.selections, names):
                return True
        elif selection.name == head and (not rest or _reaches(selection.selections, rest)):
            return True
    return False


def selects(current: Sequence[Selection], path: str) -> bool:
    """Whether the current field (strawberry's `info.selected_fields`) selects the dotted
    `path` of field names below it, such as "edges.node.owner", directly or in fragments.

    A fragment's type condition is not checked: a field it names counts as selected.
    """
    names = path.split(".")
    return any(
        _reaches(field.selections, names)
        for field in current
        if isinstance(field, SelectedField) and _included(field)
    )
