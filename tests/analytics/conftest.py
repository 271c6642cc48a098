"""Fixtures for the analytics tests: metrics rows made in Python, inserted through the store.

Every test makes its own users (fresh UUIDs), so rows of different tests never mix in the
shared chDB engine; the rows of the users a test made are deleted when it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.analytics import ColumnRow
from db.stores import Stores
from tests.agents.conftest import Caller, MakeCaller, caller
from tests.auth.conftest import SignIn, sign_in

__all__ = ["Caller", "MakeCaller", "SignIn", "caller", "sign_in"]

CATEGORIES = ("S1", "S2", "S10", "PII", "PROFANITY")
# A whole hour two days ago: inside the table TTL, with buckets known in advance.
BASE = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)

ANALYTICS = """
query A($q: AnalyticsQuery!) {
  analytics(query: $q) {
    limit offset
    rows { bucket agentId userId violationCategory count
           values { function field percentile value } }
  }
}
"""


def make_row(
    user_id: uuid.UUID,
    agent_id: uuid.UUID,
    index: int,
    *,
    at: datetime | None = None,
    **values: Any,
) -> ColumnRow:
    """A row whose numbers are simple, distinct functions of `index`."""
    row: ColumnRow = {
        "timestamp": at or BASE + timedelta(minutes=index),
        "request_id": uuid.uuid4(),
        "user_id": user_id,
        "agent_id": agent_id,
        "processing_time_ms": 10.0 + (index * 37 % 101) / 4,
        "awareness_level": (index * 13 % 17) / 16,
        "ethical_score": 1 - (index * 7 % 11) / 10,
        "confidence": 0.5 + (index % 5) / 10,
        "cognitive_load": (index % 9) / 8,
        "valence": ((index % 21) - 10) / 10,
        "arousal": (index % 4) / 3,
        "blocked": index % 6 == 0,
        "error": False,
        "violation_categories": [CATEGORIES[j] for j in range(len(CATEGORIES)) if (index >> j) & 1],
        "input_chars": 20 + index,
        "cpu_percent": float(index % 50),
        "memory_mb": 100.0 + index,
        "gpu_usage": None,
    }
    row.update(values)
    return row


class Metrics:
    """Insert rows for users and remember them, so they can be deleted at the end."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.user_ids: set[uuid.UUID] = set()

    async def insert(self, rows: list[ColumnRow]) -> list[ColumnRow]:
        self.user_ids.update(row["user_id"] for row in rows)
        await self.stores.analytics.insert_metrics(rows, uuid.uuid4().hex)
        return rows

    def track(self, *user_ids: uuid.UUID) -> None:
        self.user_ids.update(user_ids)

    async def request_ids(self, user_id: uuid.UUID) -> list[str]:
        rows = await self.stores.analytics.query_rows(
            "SELECT toString(request_id) FROM consciousness_metrics WHERE user_id = {u:UUID}",
            {"u": user_id},
        )
        return [row[0] for row in rows]


@pytest.fixture
async def metrics(stores: Stores) -> AsyncIterator[Metrics]:
    helper = Metrics(stores)
    yield helper
    for user_id in helper.user_ids:
        await stores.analytics.delete_metrics(user_id=user_id)


def query_vars(**query: Any) -> dict[str, Any]:
    """An AnalyticsQuery over the day of BASE, plus the given fields."""
    variables: dict[str, Any] = {
        "range": {
            "start": (BASE - timedelta(hours=1)).isoformat(),
            "end": (BASE + timedelta(days=1)).isoformat(),
        }
    }
    variables.update(query)
    return {"q": variables}


def percentile(values: list[float], p: float) -> float:
    """ClickHouse's quantileExact: the value at 0-based rank floor(p·n) of the sorted values."""
    ordered = sorted(values)
    return ordered[min(int(p * len(ordered)), len(ordered) - 1)]
