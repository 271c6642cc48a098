"""exportAnalytics end to end: the mutation, then GET /exports/{id}, parsed back and compared."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
import uuid
from typing import Any

import pyarrow.parquet as pq
import pytest

from core.enums import Role
from db.stores import Stores
from tests.agents.conftest import MakeCaller
from tests.analytics.conftest import Metrics, make_row, query_vars
from tests.support import bearer, only_error

EXPORT = """
mutation E($q: AnalyticsQuery!, $f: ExportFormat!) {
  exportAnalytics(query: $q, format: $f) { id url format expiresAt }
}
"""


def as_uuid(value: Any) -> str:
    return str(uuid.UUID(bytes=value) if isinstance(value, bytes) else uuid.UUID(str(value)))


def parse(fmt: str, body: bytes) -> list[dict[str, Any]]:
    if fmt == "CSV":
        return list(csv.DictReader(io.StringIO(body.decode())))
    if fmt == "JSON":
        return [json.loads(line) for line in body.decode().splitlines()]
    return pq.read_table(io.BytesIO(body)).to_pylist()


@pytest.mark.parametrize("fmt", ["CSV", "JSON", "PARQUET"])
async def test_raw_rows_export_in_each_format(caller: MakeCaller, metrics: Metrics, fmt: str):
    developer = await caller("dev", Role.DEVELOPER)
    agent_id = uuid.uuid4()
    rows = await metrics.insert([make_row(developer.user_id, agent_id, i) for i in range(60)])
    payload = (await developer.ok(EXPORT, f=fmt, **query_vars()))["exportAnalytics"]
    assert payload["url"] == f"/exports/{payload['id']}"
    response = await developer.client.get(payload["url"], headers=developer.headers)
    assert response.status_code == 200, response.text
    exported = parse(fmt, response.content)
    assert len(exported) == len(rows)
    by_id = {str(r["request_id"]): r for r in rows}
    for item in exported:
        original = by_id[as_uuid(item["request_id"])]
        assert as_uuid(item["agent_id"]) == str(agent_id)
        assert float(item["processing_time_ms"]) == pytest.approx(original["processing_time_ms"])
        assert int(item["input_chars"]) == original["input_chars"]
    if fmt == "JSON":
        assert all(
            item["violation_categories"] == by_id[item["request_id"]]["violation_categories"]
            for item in exported
        )


async def test_an_aggregated_export_has_the_groups_of_the_query(
    caller: MakeCaller, metrics: Metrics
):
    developer = await caller("dev", Role.DEVELOPER)
    agents = [uuid.uuid4(), uuid.uuid4()]
    rows = await metrics.insert([make_row(developer.user_id, agents[i % 2], i) for i in range(30)])
    query = query_vars(aggregations=[{"function": "AVG", "field": "CONFIDENCE"}], groupBy=["AGENT"])
    payload = (await developer.ok(EXPORT, f="CSV", **query))["exportAnalytics"]
    response = await developer.client.get(payload["url"], headers=developer.headers)
    exported = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(response.text))}
    for agent_id in agents:
        mine = [r["confidence"] for r in rows if r["agent_id"] == agent_id]
        row = exported[str(agent_id)]
        assert float(row["avg_confidence_0"]) == pytest.approx(sum(mine) / len(mine))
        assert int(row["row_count"]) == len(mine)


async def test_only_the_owner_may_download_and_only_until_expiry(
    caller: MakeCaller, metrics: Metrics, stores: Stores
):
    developer = await caller("dev", Role.DEVELOPER)
    other = await caller("other", Role.DEVELOPER)
    await metrics.insert([make_row(developer.user_id, uuid.uuid4(), 0)])
    payload = (await developer.ok(EXPORT, f="JSON", **query_vars()))["exportAnalytics"]
    url = payload["url"]
    assert (await developer.client.get(url)).status_code == 401
    assert (await developer.client.get(url, headers=bearer("not-a-token"))).status_code == 401
    assert (await developer.client.get(url, headers=other.headers)).status_code == 404
    assert (
        await developer.client.get("/exports/made-up", headers=developer.headers)
    ).status_code == 404
    assert (await developer.client.get(url, headers=developer.headers)).status_code == 200
    registry = stores.analytics.exports
    job = registry._jobs[payload["id"]]
    registry._jobs[job.id] = dataclasses.replace(job, expires_at=time.time() - 1)
    assert (await developer.client.get(url, headers=developer.headers)).status_code == 404


async def test_exporting_needs_the_export_permission(caller: MakeCaller):
    user = await caller("plain")
    error = only_error(await user.send(EXPORT, f="CSV", **query_vars()))
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_an_export_of_bad_input_is_refused_naming_the_field(caller: MakeCaller):
    developer = await caller("dev", Role.DEVELOPER)
    query = query_vars()
    query["q"]["limit"] = 0
    error = only_error(await developer.send(EXPORT, f="PARQUET", **query))
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "query.limit",
    )
