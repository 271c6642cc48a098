"""The one check every client value passes before execution: text and nesting.

Every string a client sends (in variables or written into the document) reaches some store
or the engine, so it is checked here, once, whatever field it is for:
- control characters are refused: NUL, which PostgreSQL cannot store in text (it failed
  there as INTERNAL while SQLite kept it), and the other C0 controls except tab, line feed
  and carriage return, which no name, input or filter needs;
- values nested more than MAX_INPUT_DEPTH deep are refused: a JSON `context` or agent
  `configuration` 1,000 levels deep passed the parser but not orjson (INTERNAL).
Both are BAD_USER_INPUT naming where the value is (`extensions.field`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from graphql import (
    GraphQLError,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
)

from core.errors import BadUserInput

MAX_INPUT_DEPTH: Final = 32
"""Levels of lists and objects in one value; agent configurations need a handful."""

FORBIDDEN_CHARACTERS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _bad_text(text: str, where: str) -> BadUserInput | None:
    found = FORBIDDEN_CHARACTERS.search(text)
    if found is None:
        return None
    return BadUserInput(
        f"{where} contains the control character U+{ord(found.group()):04X}; text may hold "
        "tab, line feed and carriage return, but no other control character",
        field=where,
    )


def _too_deep(where: str) -> BadUserInput:
    return BadUserInput(
        f"{where} is nested more than {MAX_INPUT_DEPTH} levels deep",
        field=where,
        maximum=MAX_INPUT_DEPTH,
    )


def variables_refusal(variables: Mapping[str, Any] | None) -> BadUserInput | None:
    """Why these variables must not be used, or None; walked without recursion."""
    pending: list[tuple[object, str, int]] = [
        (value, name, 0) for name, value in (variables or {}).items()
    ]
    while pending:
        value, where, depth = pending.pop()
        if isinstance(value, str):
            if (refusal := _bad_text(value, where)) is not None:
                return refusal
            continue
        if isinstance(value, Mapping):
            items: list[tuple[object, object]] = list(value.items())
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        else:
            continue
        if depth >= MAX_INPUT_DEPTH:
            return _too_deep(where)
        for key, item in items:
            if isinstance(key, str) and (refusal := _bad_text(key, f"{where} (a key)")):
                return refusal
            pending.append((item, f"{where}.{key}", depth + 1))
    return None


class InputLiteralsRule(ValidationRule):
    """The same checks for values written into the document (cached with its validation)."""

    def enter_argument(self, node: Any, *_args: Any) -> None:
        self._check(node.value, node.name.value)

    def _check(self, root: ValueNode, name: str) -> None:
        pending: list[tuple[ValueNode, str, int]] = [(root, name, 0)]
        while pending:
            value, where, depth = pending.pop()
            refusal: BadUserInput | None = None
            if isinstance(value, StringValueNode):
                refusal = _bad_text(value.value, where)
            elif isinstance(value, ListValueNode | ObjectValueNode):
                if depth >= MAX_INPUT_DEPTH:
                    refusal = _too_deep(where)
                elif isinstance(value, ListValueNode):
                    pending += [
                        (item, f"{where}.{i}", depth + 1) for i, item in enumerate(value.values)
                    ]
                else:
                    for field in value.fields:
                        key = field.name.value
                        pending.append((field.value, f"{where}.{key}", depth + 1))
            if refusal is not None:
                self.report_error(GraphQLError(refusal.message, value, original_error=refusal))
                return
