"""Benchmark: agent listings with owner and stats, at 1,000 and 1,000,000 metrics rows.

Everything runs in this process through httpx.ASGITransport, in the same run:

- the real app (its lifespan, embedded stores in a temporary directory) with a signed-in
  user who owns 100 agents, each with 20 sessions and 10 metrics rows (1,000 rows), answering
  the listing of issue 16, `agents(first: 20) { … owner { username } stats { requestCount } }`,
  and `agents(first: 100)` with more fields of each;
- the baseline: a bare strawberry schema served by strawberry's ASGI app, returning the same
  number of in-memory objects with the same fields.

Both listings are timed with 1,000 metrics rows in the analytics table, then again after
999,000 rows of 10,000 agents of other users were added (made by ClickHouse from
`numbers()`) and the table merged, as a live table is: every row falls in the last six days,
so the listed agents' rows are spread over all of it. The listed agents and their rows stay
the same, so a listing that scales with its page takes as long at 1,000,000 rows as at 1,000.
Each request's CPU time (this process, its store threads included) is reported beside its
wall time: on a shared machine it moves less with other processes' load.
Run: `.venv/bin/python bench/agents_bench.py [--requests N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.apps, like the packages

import httpx
import strawberry
from figures import Figure, add_json_option, number, percentile, write_figures
from strawberry.asgi import GraphQL

from auth.passwords import hash_password
from core.enums import AgentType, Role, Tier
from core.settings import Settings
from db.crypto import Keyring
from db.models import Agent, ConsciousnessSession
from db.repositories.session_texts import SessionTexts, seal_texts
from db.repositories.users import create_user
from db.stores import Stores
from db.types import utcnow
from server.app import create_app
from server.startup import prepare_stores
from tests.apps import running

AGENTS = 100
SESSIONS_PER_AGENT = 20
ROWS_PER_AGENT = 10
SMALL_TABLE_ROWS = AGENTS * ROWS_PER_AGENT
LARGE_TABLE_ROWS = 1_000_000
OTHER_AGENTS = 10_000
OTHER_USERS = 1_000
WARMUP_REQUESTS = 20
MERGES_TIMEOUT_SECONDS = 60
DEFAULT_REQUESTS = 200
PASSWORD = "benchmark password that is long enough"
FIELDS = {
    20: "id name status owner { username } stats { requestCount }",
    100: "id name status agentType createdAt version owner { id username } "
    "stats { requestCount meanAwareness p95ProcessingTimeMs }",
}
SCENARIO = "extra: agents listing, in-process"
# The listed agents' rows, and the others': spread evenly over the last six days.
LISTED_ROWS_SQL = """
INSERT INTO consciousness_metrics
SELECT now64(3) - toIntervalSecond(518 * number), generateUUIDv4(), {user:UUID},
       arrayElement({agents:Array(UUID)}, number % length({agents:Array(UUID)}) + 1),
       5 + number % 97, (number % 11) / 10, (number % 7) / 6, 0.5, 0.25, 0, 0.5,
       number % 13 = 0, false, [], 100, 3, 120, NULL, 'graphql', '', '', 0, 0, '', ''
FROM numbers({rows:UInt64})
"""
OTHER_ROWS_SQL = """
INSERT INTO consciousness_metrics
SELECT now64(3) - toIntervalMillisecond(500 * number), generateUUIDv4(),
       toUUID(concat('00000000-0000-0000-0000-',
                     leftPad(toString(number % {users:UInt32}), 12, '0'))),
       toUUID(concat('00000000-0000-0000-0001-',
                     leftPad(toString(number % {agents:UInt32}), 12, '0'))),
       5 + (number * 7919 % 1000) / 10, (number % 11) / 10, (number % 7) / 6, 0.5, 0.25, 0, 0.5,
       number % 13 = 0, false, if(number % 5 = 0, ['S1'], []), 100, 3, 120, NULL,
       'graphql', '', '', 0, 0, '', ''
FROM numbers({rows:UInt64})
"""


def listing_query(first: int) -> str:
    return f"{{ agents(first: {first}) {{ edges {{ node {{ {FIELDS[first]} }} }} }} }}"


def baseline_query(first: int) -> str:
    return f"{{ agents(first: {first}) {{ {FIELDS[first]} }} }}"


# --- the baseline: the same shape, plain objects, no I/O ------------------------------------
@strawberry.type
class PlainOwner:
    id: strawberry.ID
    username: str


@strawberry.type
class PlainStats:
    request_count: int
    mean_awareness: float | None
    p95_processing_time_ms: float | None


@strawberry.type
class PlainAgent:
    id: strawberry.ID
    name: str
    status: str
    agent_type: str
    created_at: str
    version: int
    owner: PlainOwner
    stats: PlainStats


OWNER = PlainOwner(id=strawberry.ID(str(uuid.uuid4())), username="bench")
PLAIN_AGENTS = [
    PlainAgent(
        id=strawberry.ID(str(uuid.uuid4())),
        name=f"agent-{index:03d}",
        status="INACTIVE",
        agent_type="GENERAL",
        created_at=utcnow().isoformat(),
        version=1,
        owner=OWNER,
        stats=PlainStats(request_count=20, mean_awareness=0.5, p95_processing_time_ms=19.0),
    )
    for index in range(AGENTS)
]


@strawberry.type
class BaselineQuery:
    @strawberry.field
    def agents(self, first: int) -> list[PlainAgent]:
        return PLAIN_AGENTS[:first]


# --- seeding and timing ---------------------------------------------------------------------
async def seed(stores: Stores, keyring: Keyring) -> None:
    """One user with AGENTS agents, each with SESSIONS_PER_AGENT sessions (their texts
    sealed, as the app stores them) and ROWS_PER_AGENT metrics rows (SMALL_TABLE_ROWS in
    all)."""
    start = utcnow() - timedelta(days=1)
    async with stores.database.session() as session:
        user = await create_user(
            session,
            username="bench",
            email="bench@example.org",
            password_hash=hash_password(PASSWORD),
            roles=[Role.USER],
            tier=Tier.BASIC,
        )
        agents = [
            Agent(owner_id=user.id, name=f"agent-{index:03d}", agent_type=AgentType.GENERAL.value)
            for index in range(AGENTS)
        ]
        session.add_all(agents)
        await session.flush()
        texts = SessionTexts(input_text="hello", response_text=None, context={})
        session.add_all(
            ConsciousnessSession(
                id=session_id,
                request_id=uuid.uuid4(),
                agent_id=agent.id,
                user_id=user.id,
                **vars(seal_texts(keyring, session_id, texts)),
                awareness_level=(number % 10) / 10,
                ethical_score=0.9,
                confidence=0.5,
                processing_time_ms=float(number),
                created_at=start + timedelta(minutes=number),
            )
            for agent in agents
            for number in range(SESSIONS_PER_AGENT)
            for session_id in (uuid.uuid4(),)
        )
    await stores.analytics.command(
        LISTED_ROWS_SQL,
        {"user": user.id, "agents": [agent.id for agent in agents], "rows": SMALL_TABLE_ROWS},
    )


async def grow_table(stores: Stores) -> None:
    """Other users' rows, up to LARGE_TABLE_ROWS in the table, merged into one part sorted
    by time (the table's key), so no part holds only the listed agents' rows."""
    await stores.analytics.command(
        OTHER_ROWS_SQL,
        {"users": OTHER_USERS, "agents": OTHER_AGENTS, "rows": LARGE_TABLE_ROWS - SMALL_TABLE_ROWS},
    )
    await stores.analytics.command("OPTIMIZE TABLE consciousness_metrics FINAL")
    await settled(stores)


async def settled(stores: Stores) -> None:
    """Wait (up to MERGES_TIMEOUT_SECONDS) until chDB merges no parts: the timings that
    follow would pay for background merges on this machine's cores."""
    deadline = time.monotonic() + MERGES_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not await stores.analytics.query_rows("SELECT 1 FROM system.merges LIMIT 1"):
            return
        await asyncio.sleep(0.5)
    rows = await stores.analytics.query_rows("SELECT count() FROM consciousness_metrics")
    assert rows[0][0] == LARGE_TABLE_ROWS, rows


async def sign_in(http: httpx.AsyncClient) -> dict[str, str]:
    login = 'mutation($p: String!) { login(username: "bench", password: $p) { accessToken } }'
    body = (await http.post("/graphql", json={"query": login, "variables": {"p": PASSWORD}})).json()
    return {"Authorization": f"Bearer {body['data']['login']['accessToken']}"}


def request(
    http: httpx.AsyncClient, query: str, count: int, headers: dict[str, str] | None = None
) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        response = await http.post("/graphql", json={"query": query}, headers=headers)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        listed = body["data"]["agents"]
        assert len(listed["edges"] if isinstance(listed, dict) else listed) == count

    return send


@dataclass
class Timings:
    """Each request's wall time, and the CPU time of this process (chDB's and SQLite's
    threads included) while it ran: less swayed by other processes on a shared machine."""

    name: str
    seconds: list[float]
    cpu_seconds: list[float]

    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    def p95_ms(self) -> float:
        return percentile(self.seconds, 0.95) * 1000

    def cpu_median_ms(self) -> float:
        return statistics.median(self.cpu_seconds) * 1000


async def measure(
    scenarios: dict[str, Callable[[], Awaitable[None]]], requests: int
) -> dict[str, Timings]:
    """Warm up, then alternate the scenarios request by request so drift hits all alike."""
    for send in scenarios.values():
        for _ in range(WARMUP_REQUESTS):
            await send()
    results = {name: Timings(name, [], []) for name in scenarios}
    for _ in range(requests):
        for name, send in scenarios.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            await send()
            results[name].seconds.append(time.perf_counter() - started)
            results[name].cpu_seconds.append(time.process_time() - cpu_started)
    return results


MEDIANS = (("median", Timings.median_ms), ("cpu_median", Timings.cpu_median_ms))
Measured = dict[int, dict[str, Timings]]  # by metrics rows in the table, by scenario name


def figures(measured: Measured) -> list[Figure]:
    note = "httpx.ASGITransport, embedded stores, one request at a time"
    found: list[Figure] = []
    for first in FIELDS:
        for rows, timings in measured.items():
            app, bare = timings[f"app{first}"], timings[f"bare{first}"]
            found += [
                Figure(f"listing.first{first}.rows{rows}.{name}_ms", SCENARIO,
                       f"agents(first: {first}) + owner + stats, {rows:,} metrics rows, {name}",
                       value(app), "ms", f"bare strawberry, same shape, {name}", value(bare),
                       note=note)
                for name, value in (*MEDIANS, ("p95", Timings.p95_ms))
            ]  # fmt: skip
        small, large = (measured[rows][f"app{first}"] for rows in sorted(measured))
        found += [
            Figure(f"listing.first{first}.growth.{name}_ms", SCENARIO,
                   f"agents(first: {first}) {name} at {LARGE_TABLE_ROWS:,} metrics rows",
                   value(large), "ms", f"the same at {SMALL_TABLE_ROWS:,} rows", value(small),
                   note="flat is a ratio of 1")
            for name, value in MEDIANS
        ]  # fmt: skip
    return found


def report(measured: Measured, requests: int) -> str:
    lines = [
        f"agents listings with owner + stats vs bare strawberry, {requests} requests each",
        "",
        "| listing | metrics rows | app median ms | app p95 ms | app CPU median ms "
        "| bare median ms | app / bare (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for first in FIELDS:
        for rows, timings in measured.items():
            app, bare = timings[f"app{first}"], timings[f"bare{first}"]
            lines.append(
                f"| agents(first: {first}) | {rows:,} | {app.median_ms():.2f} "
                f"| {app.p95_ms():.2f} | {app.cpu_median_ms():.2f} | {bare.median_ms():.2f} "
                f"| {app.median_ms() / bare.median_ms():.2f}x |"
            )
    lines.append("")
    for first in FIELDS:
        small, large = (measured[rows][f"app{first}"] for rows in sorted(measured))
        lines.append(
            f"agents(first: {first}): {number(LARGE_TABLE_ROWS)} rows / {number(SMALL_TABLE_ROWS)}"
            f" rows, median {large.median_ms() / small.median_ms():.2f}x, "
            f"p95 {large.p95_ms() / small.p95_ms():.2f}x, "
            f"CPU median {large.cpu_median_ms() / small.cpu_median_ms():.2f}x"
        )
    return "\n".join(lines)


async def main(requests: int, json_path: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="agents-bench-") as data_dir:
        settings = Settings(
            _env_file=None,
            data_dir=Path(data_dir),
            database_url="",
            redis_url="",
            clickhouse_url="",
            jwt_secrets=["bench-secret-" + "x" * 40],
            query_cost_budget_basic=0,  # unlimited: each request costs 501, a run sends hundreds
        )
        await prepare_stores(settings)
        async with running(create_app(settings)) as app:
            stores: Stores = app.state.stores
            await seed(stores, app.state.keyring)
            transport = httpx.ASGITransport(app=app.asgi)
            baseline_transport = httpx.ASGITransport(
                app=GraphQL(strawberry.Schema(query=BaselineQuery), graphql_ide=None)
            )
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
                httpx.AsyncClient(transport=baseline_transport, base_url="http://bench") as bare,
            ):
                headers = await sign_in(http)
                scenarios = {}
                for first in FIELDS:
                    scenarios[f"app{first}"] = request(http, listing_query(first), first, headers)
                    scenarios[f"bare{first}"] = request(bare, baseline_query(first), first)
                measured: Measured = {SMALL_TABLE_ROWS: await measure(scenarios, requests)}
                await grow_table(stores)
                measured[LARGE_TABLE_ROWS] = await measure(scenarios, requests)
    print(report(measured, requests))
    write_figures(json_path, figures(measured))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    add_json_option(parser)
    arguments: Any = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.json))
