"""schemathesis in OpenAPI mode against the running server's REST endpoints (/api/v1).

Every operation of the committed openapi.json gets generated requests (path, query, headers
and bodies from the document's schemas; valid ones, and in negative mode ones the document
forbids), sent to a real uvicorn by a freshly registered user. Each answer must not be a
5xx and must conform to the document: its status is one the operation declares, its content
type and required headers are the declared ones, and its body validates against the
declared schema (schemathesis' response-schema check). `FUZZ_EXAMPLES` sets the examples
per operation and mode (`make fuzz` runs a longer one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode, checks

from tests.conformance.conftest import fuzz_settings, register
from tests.support import bearer

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))
DOCUMENT = schemathesis.openapi.from_path(str(Path(__file__).parents[2] / "openapi.json"))
OPERATIONS = {result.ok().label: result.ok() for result in DOCUMENT.get_all_operations()}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


# Negative mode needs something to make invalid: an operation without input has none.
RUNS = [
    pytest.param(label, mode, id=f"{label}-{mode.value}")
    for label in sorted(OPERATIONS)
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE
    or {"parameters", "requestBody"} & set(OPERATIONS[label].definition.raw)
]


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_generated_requests_get_documented_answers(
    server_url: str, label: str, mode: GenerationMode
) -> None:
    headers = bearer(register(server_url))  # a user of its own: logout may revoke it

    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @fuzz_settings(EXAMPLES_PER_OPERATION)
    def call(case: Any) -> None:
        case.call_and_validate(base_url=server_url, headers=headers, checks=CHECKS)

    call()
