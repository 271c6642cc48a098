"""Inserting metrics never imports pandas into a server (db/analytics.py says why).

A fresh interpreter: the test process itself may have imported pandas through other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys, uuid
from datetime import UTC, datetime
from db.analytics import AnalyticsStore
from db.analytics_migrations import migrate_analytics
from tests.analytics.conftest import make_row

async def main(path):
    store = await AnalyticsStore.open(f"chdb://{path}")
    await migrate_analytics(store, retention_days=30)
    row = make_row(uuid.uuid4(), uuid.uuid4(), 1, at=datetime.now(UTC))
    await store.insert_metrics([row], uuid.uuid4().hex)
    rows = await store.query_rows("SELECT count() FROM consciousness_metrics")
    print(rows[0][0], "pandas" in sys.modules)

asyncio.run(main(sys.argv[1]))
"""


def test_a_metrics_insert_does_not_import_pandas(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "chdb")],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "False"]
