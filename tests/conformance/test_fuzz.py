"""schemathesis in GraphQL mode against the running server, as a signed-in user.

Each root field of schema.graphql gets generated operations (valid and edge-case arguments
and selections), sent over HTTP to a real uvicorn by a freshly registered user, on each
store column (embedded, and PostgreSQL + Redis); none may answer a 5xx or an INTERNAL
error. The bounded run in `make test` is about 2,000 operations per column (FUZZ_EXAMPLES
per field); `make fuzz` runs a longer one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given

from tests.conformance.conftest import fuzz_settings, register
from tests.support import bearer

EXAMPLES_PER_FIELD = int(os.environ.get("FUZZ_EXAMPLES", "60"))
SCHEMA = schemathesis.graphql.from_path(str(Path(__file__).parents[2] / "schema.graphql"))
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_generated_operation_gets_a_server_error(column_url: str, label: str) -> None:
    headers = bearer(register(column_url))  # a user of its own: logout may revoke it

    @given(case=OPERATIONS[label].as_strategy())
    @fuzz_settings(EXAMPLES_PER_FIELD)
    def call(case: Any) -> None:
        response = case.call(base_url=f"{column_url}/graphql", headers=headers)
        assert response.status_code < 500, (case.body, response.text)
        body = response.json()
        codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
        assert "INTERNAL" not in codes, (case.body, body)

    call()
