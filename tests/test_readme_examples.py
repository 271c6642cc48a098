"""Every GraphQL example in README.md is valid against the schema, so the docs cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from schema.schema import schema

README = Path(__file__).parent.parent / "README.md"
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)


def _examples() -> list[str]:
    """Each top-level operation of each graphql block (blocks hold several, one per line)."""
    operations = []
    for block in BLOCK.findall(README.read_text()):
        depth, start = 0, 0
        for index, char in enumerate(block):
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    operations.append(block[start : index + 1].strip())
                    start = index + 1
    return operations


def test_the_readme_has_examples() -> None:
    assert len(_examples()) >= 10


@pytest.mark.parametrize("operation", _examples())
def test_each_readme_example_validates(operation: str) -> None:
    # "…" stands for an id or a token in the README; a UUID string is valid for both.
    errors = validate(schema._schema, parse(operation.replace('"…"', f'"{PLACEHOLDER}"')))
    assert errors == [], operation
