"""SIGTERM on a real `consciousness serve`: in-flight requests finish, no metrics row is lost."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import embedded_env, serve
from tests.support import PASSWORD, wait_until

CALLS = 12  # each ~0.2 s of engine work on one agent, serialised by its row lock
TEXT = ("I wonder whether the garden will grow; I feel calm, if a little worried. " * 300)[:20_000]
REGISTER = (
    'mutation { register(input: {username: "sigterm", email: "sigterm@example.org", '
    f'password: "{PASSWORD}"}}) {{ accessToken }} }}'
)
LOGIN = f'mutation {{ login(username: "sigterm", password: "{PASSWORD}") {{ accessToken }} }}'
PROCESS = "mutation Process($input: ProcessInput!) { process(input: $input) { requestId } }"
ANALYTICS = "query($q: AnalyticsQuery!) { analytics(query: $q) { rows { count } } }"


async def call(http: httpx.AsyncClient, query: str, token: str = "", **variables: Any) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def metric(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not in /metrics")


async def test_sigterm_finishes_in_flight_requests_and_keeps_every_metrics_row(
    tmp_path: Path,
) -> None:
    env = embedded_env(
        tmp_path,
        # Rows wait in the writer for 60 s, so at SIGTERM every one of them is still buffered.
        ANALYTICS_FLUSH_INTERVAL_SECONDS="60",
        SHUTDOWN_GRACE_SECONDS="60",
        LOG_FORMAT="json",
    )
    with serve(tmp_path, env, ready_path="/ready") as (url, process):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            token = (await call(http, REGISTER))["register"]["accessToken"]
            create = 'mutation { createAgent(input: {name: "a", agentType: ANALYTICAL}) { id } }'
            agent_id = (await call(http, create, token))["createAgent"]["id"]
            await call(
                http, "mutation($id: UUID!) { activateAgent(id: $id) { id } }", token, id=agent_id
            )

            done: list[str] = []
            first_answer = asyncio.Event()

            async def process_one() -> None:
                data = await call(http, PROCESS, token, input={"agentId": agent_id, "input": TEXT})
                done.append(data["process"]["requestId"])
                first_answer.set()

            calls = [asyncio.create_task(process_one()) for _ in range(CALLS)]
            await first_answer.wait()  # the server is working through them
            scraped = (await http.get("/metrics")).text
            process.send_signal(signal.SIGTERM)
            finished_before_sigterm = len(done)
            async with httpx.AsyncClient(base_url=url, timeout=5) as newcomer:

                async def refused() -> bool:
                    try:
                        await newcomer.get("/health")
                    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                        return True  # refused, or queued before the listener closed, dropped
                    return False

                await wait_until(refused, "no longer accepting after SIGTERM", 10)
            await asyncio.gather(*calls)  # every in-flight call still gets its answer

        assert finished_before_sigterm < CALLS, "no request was in flight at SIGTERM"
        assert len(done) == CALLS
        assert metric(scraped, "analytics_writer_inserted_rows_total") == 0  # all buffered
        process.wait(timeout=90)

    log = (tmp_path / "server.log").read_text()
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    processed = [
        line
        for line in lines
        if line.get("logger") == "consciousness.request"
        and line.get("operation") == "Process"
        and line.get("outcome") == "ok"
    ]
    assert len(processed) == CALLS  # one JSON line per request, the in-flight ones included

    # Restarted: what did ClickHouse keep?
    with serve(tmp_path, env, ready_path="/ready") as (url, _process):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            token = (await call(http, LOGIN))["login"]["accessToken"]
            now = datetime.now(UTC)
            window = {
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
            }
            data = await call(
                http, ANALYTICS, token, q={"range": window, "aggregations": [{"function": "COUNT"}]}
            )
    assert sum(row["count"] for row in data["analytics"]["rows"]) == CALLS
