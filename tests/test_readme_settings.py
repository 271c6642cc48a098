"""The settings as the docs describe them: docs/configuration.md lists exactly the settings,
with their defaults, and no page (README.md, docs/*.md) names a setting that is gone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import GraphQLEnumType

from core.settings import Settings
from schema.schema import schema

ROOT = Path(__file__).parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A table row: | `NAME` | default | meaning |
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \|", re.MULTILINE)
# A default cell that starts with a literal value, e.g. "`900`" or "`1209600` (14 days)".
LITERAL = re.compile(r"^`([^`]*)`")
# In running text: `NAME` or `NAME=value`, NAME with at least one underscore.
MENTION = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`")
# Upper-case names in the docs that are not settings: error codes, and the test suite's own
# environment variables (GraphQL enum values are allowed too).
NOT_SETTINGS = {
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "ETHICAL_VIOLATION",
    "RATE_LIMITED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "FUZZ_EXAMPLES",
    "QDRANT_TEST_URL",
}
SETTINGS = {name.upper(): name for name in Settings.model_fields}
ENUM_VALUES = {
    value
    for graphql_type in schema._schema.type_map.values()
    if isinstance(graphql_type, GraphQLEnumType)
    for value in graphql_type.values
}


def _documented_rows() -> dict[str, str]:
    return dict(ROW.findall(CONFIGURATION.read_text(encoding="utf-8")))


def test_the_configuration_page_lists_exactly_the_settings() -> None:
    documented = set(_documented_rows())
    assert set(SETTINGS) - documented == set(), "settings missing from docs/configuration.md"
    assert documented - set(SETTINGS) == set(), "docs document settings that do not exist"


def _literal_defaults() -> dict[str, str]:
    """The rows whose default cell starts with a literal value, by variable."""
    defaults = {}
    for variable, cell in _documented_rows().items():
        literal = LITERAL.match(cell.strip())
        if literal is not None and variable in SETTINGS:
            defaults[variable] = literal.group(1)
    return defaults


def test_most_defaults_are_literal_values() -> None:
    # Guards the parsing below: a table whose cells stopped matching would check nothing.
    assert len(_literal_defaults()) >= len(SETTINGS) * 3 // 4


@pytest.mark.parametrize(("variable", "literal"), sorted(_literal_defaults().items()))
def test_a_documented_default_is_the_default(variable: str, literal: str) -> None:
    name = SETTINGS[variable]
    # Parsed as the setting parses its environment variable (given values win over the env).
    documented = getattr(Settings.model_validate({name: literal}), name)
    assert documented == Settings.model_fields[name].get_default(call_default_factory=True)


def test_no_page_names_a_setting_that_does_not_exist() -> None:
    unknown = {
        f"{page.relative_to(ROOT).as_posix()}: {name}"
        for page in PAGES
        for name in MENTION.findall(page.read_text(encoding="utf-8"))
        if name not in SETTINGS and name not in ENUM_VALUES and name not in NOT_SETTINGS
    }
    assert unknown == set(), "a setting that does not exist (or add it to NOT_SETTINGS)"
