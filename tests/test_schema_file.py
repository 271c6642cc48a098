"""schema.graphql must be the SDL of the schema in code (`make schema` regenerates it)."""

from __future__ import annotations

from pathlib import Path

from schema.schema import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == export_sdl(), "schema.graphql is stale: run `make schema`"
