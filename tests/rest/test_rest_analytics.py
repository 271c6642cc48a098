"""/api/v1/analytics: aggregates, a time series, session pages, and the streamed export."""

from __future__ import annotations

import csv
import io
import uuid

import httpx

from core.enums import Role
from tests.analytics.conftest import Metrics, make_row, query_vars
from tests.auth.conftest import SignIn
from tests.rest.conftest import API, create_agent, problem_of
from tests.support import bearer

RANGE = query_vars()["q"]["range"]


async def test_metrics_and_performance(
    client: httpx.AsyncClient, sign_in: SignIn, metrics: Metrics
) -> None:
    ada = await sign_in("ada")
    headers = bearer(ada["accessToken"])
    await metrics.insert(
        [make_row(uuid.UUID(ada["user"]["id"]), uuid.uuid4(), i) for i in range(6)]
    )
    query = {"range": RANGE, "aggregations": [{"function": "COUNT"}]}
    counted = await client.post(f"{API}/analytics/metrics", json=query, headers=headers)
    assert counted.status_code == 200, counted.text
    assert counted.json()["rows"][0]["count"] == 6
    series = await client.post(
        f"{API}/analytics/performance", json={"interval": "HOUR", "range": RANGE}, headers=headers
    )
    assert series.status_code == 200, series.text
    assert series.json()["metric"] == "PROCESSING_TIME_MS"
    assert sum(point["count"] for point in series.json()["points"]) == 6
    backwards = {"start": RANGE["end"], "end": RANGE["start"]}
    refused = await client.post(
        f"{API}/analytics/metrics", json={**query, "range": backwards}, headers=headers
    )
    problem_of(refused, 400, "BAD_USER_INPUT")
    no_interval = await client.post(
        f"{API}/analytics/performance", json={"range": RANGE}, headers=headers
    )
    assert problem_of(no_interval, 400, "BAD_USER_INPUT")["field"] == "interval"
    problem_of(await client.post(f"{API}/analytics/metrics", json=query), 401, "UNAUTHENTICATED")


async def test_sessions_page_with_link(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    headers = bearer((await sign_in("ada"))["accessToken"])
    agent = await create_agent(client, headers, active=True)
    for i in range(3):
        answer = await client.post(
            f"{API}/consciousness/process",
            json={"agentId": agent["id"], "input": f"Question {i}: what next?"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
    url = f"{API}/analytics/consciousness"
    first = await client.get(url, params={"agentId": agent["id"], "first": 2}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["totalCount"] == 3
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    rest = await client.get(link[1 : link.index(">")], headers=headers)
    assert len(rest.json()["edges"]) == 1
    assert "link" not in rest.headers
    other = await client.get(url, params={"agentId": str(uuid.uuid4())}, headers=headers)
    problem_of(other, 404, "NOT_FOUND")


async def test_export_streams_the_file(
    client: httpx.AsyncClient, sign_in: SignIn, metrics: Metrics
) -> None:
    developer = await sign_in("dev", Role.DEVELOPER)
    headers = bearer(developer["accessToken"])
    user_id = uuid.UUID(developer["user"]["id"])
    rows = await metrics.insert([make_row(user_id, uuid.uuid4(), i) for i in range(4)])
    exported = await client.post(
        f"{API}/analytics/export",
        json={"query": {"range": RANGE}, "format": "CSV"},
        headers=headers,
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(line["request_id"] for line in lines) == sorted(
        str(row["request_id"]) for row in rows
    )
    user = bearer((await sign_in("ada"))["accessToken"])
    forbidden = await client.post(
        f"{API}/analytics/export", json={"query": {"range": RANGE}}, headers=user
    )
    problem_of(forbidden, 403, "FORBIDDEN")
    bad_format = await client.post(
        f"{API}/analytics/export",
        json={"query": {"range": RANGE}, "format": "XLS"},
        headers=headers,
    )
    assert problem_of(bad_format, 400, "BAD_USER_INPUT")["field"] == "format"
