"""Benchmark: list 100 agents with owner and stats, against a bare strawberry baseline.

Both run in this process through httpx.ASGITransport, in the same run:

- `agents`: the real app (its lifespan, embedded stores in a temporary directory, a signed-in
  user with 100 agents and 20 sessions each) answering
  `agents(first: 100) { … owner { … } stats { … } }` — auth, keyset query, count, and the
  owner and stats DataLoaders (5 SQL statements per request);
- `baseline`: a bare strawberry schema served by strawberry's ASGI app, returning 100
  in-memory objects with the same shape and number of fields.

The ratio is what the real listing costs over GraphQL execution and HTTP alone.
Run: `.venv/bin/python bench/agents_bench.py [--requests N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import strawberry
from figures import Figure, add_json_option, percentile, write_figures
from strawberry.asgi import GraphQL

from auth.passwords import hash_password
from core.enums import AgentType, Role, Tier
from core.settings import Settings
from db.models import Agent, ConsciousnessSession
from db.repositories.users import create_user
from db.stores import Stores
from db.types import utcnow
from server.app import create_app
from server.startup import prepare_stores
from tests.apps import running

AGENTS = 100
SESSIONS_PER_AGENT = 20
WARMUP_REQUESTS = 20
DEFAULT_REQUESTS = 200
PASSWORD = "benchmark password that is long enough"
AGENTS_QUERY = """
{ agents(first: 100) { edges { node {
    id name status agentType createdAt version
    owner { id username }
    stats { requestCount meanAwareness p95ProcessingTimeMs }
} } } }
"""
BASELINE_QUERY = """
{ agents { id name status agentType createdAt version
    owner { id username }
    stats { requestCount meanAwareness p95ProcessingTimeMs } } }
"""


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
    def agents(self) -> list[PlainAgent]:
        return PLAIN_AGENTS


# --- seeding and timing ---------------------------------------------------------------------
async def seed(stores: Stores) -> None:
    """One user with AGENTS agents, each with SESSIONS_PER_AGENT sessions."""
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
        session.add_all(
            ConsciousnessSession(
                request_id=uuid.uuid4(),
                agent_id=agent.id,
                user_id=user.id,
                input_text="hello",
                awareness_level=(number % 10) / 10,
                ethical_score=0.9,
                confidence=0.5,
                processing_time_ms=float(number),
                created_at=start + timedelta(minutes=number),
            )
            for agent in agents
            for number in range(SESSIONS_PER_AGENT)
        )


async def sign_in(http: httpx.AsyncClient) -> dict[str, str]:
    login = 'mutation($p: String!) { login(username: "bench", password: $p) { accessToken } }'
    body = (await http.post("/graphql", json={"query": login, "variables": {"p": PASSWORD}})).json()
    return {"Authorization": f"Bearer {body['data']['login']['accessToken']}"}


def request(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None
) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        response = await http.post("/graphql", json={"query": query}, headers=headers)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        listed = body["data"]["agents"]
        assert len(listed["edges"] if isinstance(listed, dict) else listed) == AGENTS

    return send


@dataclass
class Timings:
    name: str
    seconds: list[float]

    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    def p95_ms(self) -> float:
        return percentile(self.seconds, 0.95) * 1000


async def measure(
    scenarios: dict[str, Callable[[], Awaitable[None]]], requests: int
) -> list[Timings]:
    """Warm up, then alternate the scenarios request by request so drift hits both alike."""
    for send in scenarios.values():
        for _ in range(WARMUP_REQUESTS):
            await send()
    results = {name: Timings(name, []) for name in scenarios}
    for _ in range(requests):
        for name, send in scenarios.items():
            started = time.perf_counter()
            await send()
            results[name].seconds.append(time.perf_counter() - started)
    return list(results.values())


def figures(timings: list[Timings]) -> list[Figure]:
    agents, baseline = timings
    scenario, where = "extra: agents(first: 100), in-process", "agents(first: 100) + owner + stats"
    return [
        Figure(f"listing.{name}_ms", scenario, f"{where}, {name}", value(agents), "ms",
               f"bare strawberry, same shape, {name}", value(baseline),
               note="httpx.ASGITransport, embedded stores, one request at a time")
        for name, value in (("median", Timings.median_ms), ("p95", Timings.p95_ms))
    ]  # fmt: skip


def report(timings: list[Timings]) -> str:
    agents, baseline = timings
    lines = [
        f"agents(first: {AGENTS}) with owner + stats vs bare strawberry, "
        f"{len(agents.seconds)} requests each",
        "",
        "| scenario | median ms | p95 ms |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {t.name} | {t.median_ms():.2f} | {t.p95_ms():.2f} |" for t in timings]
    lines += [
        f"| ratio (agents / baseline) | {agents.median_ms() / baseline.median_ms():.2f}x "
        f"| {agents.p95_ms() / baseline.p95_ms():.2f}x |"
    ]
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
            await seed(stores)
            transport = httpx.ASGITransport(app=app.asgi)
            baseline_transport = httpx.ASGITransport(
                app=GraphQL(strawberry.Schema(query=BaselineQuery), graphql_ide=None)
            )
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
                httpx.AsyncClient(transport=baseline_transport, base_url="http://bench") as bare,
            ):
                headers = await sign_in(http)
                timings = await measure(
                    {
                        "agents": request(http, AGENTS_QUERY, headers),
                        "baseline": request(bare, BASELINE_QUERY),
                    },
                    requests,
                )
    print(report(timings))
    write_figures(json_path, figures(timings))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    add_json_option(parser)
    arguments: Any = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.json))
