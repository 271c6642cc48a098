"""The session row a run leaves: built without ORM instrumentation, read like any other."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from sqlmodel import SQLModel

import engine
from db.crypto import Keyring
from db.models import ConsciousnessSession as SessionRow
from resolvers.responders import REFLECTIVE_OUTCOME
from resolvers.session_records import SessionRun

KEYRING = Keyring("k1", {"k1": bytes(range(32))})


COLUMNS = SQLModel.metadata.tables[str(SessionRow.__tablename__)].columns


def _row() -> SessionRow:
    config = engine.EngineConfig()
    text = "I am worried the release will slip; mail me at ann@example.org."
    result = engine.process(engine.EngineRequest(text), None, config)
    run = SessionRun(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), text, config, (), REFLECTIVE_OUTCOME,
        time.perf_counter(),
    )  # fmt: skip
    return run.session_row(result, {"channel": "test"}, KEYRING)


def test_a_session_row_holds_what_a_row_built_field_by_field_holds() -> None:
    row = _row()
    fields = {column.name: getattr(row, column.name) for column in COLUMNS}
    instrumented = SessionRow(**fields)
    assert {c.name: getattr(instrumented, c.name) for c in COLUMNS} == fields
    assert fields["vectorised"] is False  # the defaults are filled in too
    assert row.model_dump() == instrumented.model_dump()


def test_a_session_row_reads_in_a_process_that_has_run_no_query() -> None:
    """Reading an attribute of an uninstrumented row needs the mappers configured, which
    a fresh process has not done."""
    probe = (
        "from tests.consciousness.test_session_records import _row\n"
        "row = _row()\n"
        "print(row.processing_time_ms > 0, row.blocked)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]
