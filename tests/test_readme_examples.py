"""Every GraphQL example in README.md and docs/*.md is valid against the schema.

A ```graphql block holds one or more operations. An operation that declares variables takes
them from the last ```json block before it on the same page (the docs show the variables
first, then the operations that use them), and they must be valid for it too. Every relative
link between the pages (and to the files they name) resolves, anchors included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, parse, validate
from graphql.execution.values import get_variable_values

from schema.schema import schema

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)


def _page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _operations(block: str) -> list[str]:
    """Each top-level operation of a block (blocks hold several, one after another)."""
    operations = []
    depth, start = 0, 0
    for index, char in enumerate(block):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                operations.append(block[start : index + 1].strip())
                start = index + 1
    assert block[start:].strip() == "", f"unbalanced braces after: {block[start:]!r}"
    return operations


def _fill(text: str) -> str:
    # "…" stands for an id or a token in the docs; a UUID string is valid for both.
    return text.replace('"…"', f'"{PLACEHOLDER}"')


def _examples() -> list[tuple[str, str, str | None]]:
    """(page, operation, its variables as JSON text or None) for every example."""
    examples: list[tuple[str, str, str | None]] = []
    for page in PAGES:
        blocks = FENCE.findall(page.read_text(encoding="utf-8"))
        variables: str | None = None
        for language, body in blocks:
            if language == "json":
                variables = body
            elif language == "graphql":
                examples.extend(
                    (_page_name(page), operation, variables) for operation in _operations(body)
                )
    return examples


EXAMPLES = _examples()


def test_the_readme_and_the_api_guide_have_examples() -> None:
    pages = {page for page, _, _ in EXAMPLES}
    assert "README.md" in pages
    assert "docs/api.md" in pages
    assert len(EXAMPLES) >= 20


def test_every_docs_page_is_walked() -> None:
    # A page added under docs/ is checked without touching this test.
    assert len(PAGES) > 1
    assert all(page.suffix == ".md" for page in PAGES)


@pytest.mark.parametrize(
    ("page", "operation", "variables"),
    EXAMPLES,
    ids=[f"{page}:{number}" for number, (page, _, _) in enumerate(EXAMPLES)],
)
def test_each_example_validates(page: str, operation: str, variables: str | None) -> None:
    document = parse(_fill(operation))
    errors = validate(schema._schema, document)
    assert errors == [], f"{page}: {operation}"
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    if not definition.variable_definitions:
        return
    assert variables is not None, f"{page}: no ```json block of variables before {operation}"
    values = get_variable_values(
        schema._schema, definition.variable_definitions, json.loads(_fill(variables))
    )
    assert not isinstance(values, list), f"{page}: {values} for {operation}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _links() -> list[tuple[str, str]]:
    return [
        (_page_name(page), target)
        for page in PAGES
        for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


def test_the_pages_link_to_each_other() -> None:
    assert any(target.startswith("docs/") for page, target in _links() if page == "README.md")


@pytest.mark.parametrize(("page", "target"), _links())
def test_each_relative_link_resolves(page: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (ROOT / page).parent / path if path else ROOT / page
    assert file.exists(), f"{page}: {target}"
    if anchor:
        headings = HEADING.findall(FENCE.sub("", file.read_text(encoding="utf-8")))
        assert anchor in {_anchor(heading) for heading in headings}, f"{page}: {target}"
