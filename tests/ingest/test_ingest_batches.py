"""The ingestion worker's claims: several queued batches stored in one transaction or not at
all, and a batch that always fails retried a bounded number of times, then dead-lettered,
while the batches behind it are stored."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

import engine
from core.settings import Settings
from db.models import Agent, ConsciousnessSession, IngestQueue, MetricsOutbox
from db.repositories import ingest_queue, sessions
from db.session import Database
from resolvers.consciousness import MIN_PART, PARTS_PER_LANE, series_parts
from resolvers.context import OTLP_PATH, AppState, InTurn
from resolvers.observed_calls import ObservedCall
from server.app import create_app
from server.metrics import IngestCollector
from server.otlp_worker import MAX_ATTEMPTS, IngestWorker
from tests.agents.conftest import Caller
from tests.apps import running
from tests.conftest import empty_tables
from tests.support import FakeClock, register


@pytest.fixture
async def queue_app(
    settings: Settings, own_database: Database
) -> AsyncIterator[tuple[AppState, Caller]]:
    """An app whose own worker does not run (the test drives one), and a user on it, on a
    database of its own: the session-wide app's ingestion worker would drain its queue."""
    own = {"ingest_worker": False, "database_url": own_database.url}
    app = create_app(settings.model_copy(update=own))
    async with running(app) as started:
        transport = httpx.ASGITransport(app=started.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            try:
                yield started.state, Caller(client, await register(client, "ada"))
            finally:
                await empty_tables(started.state.stores)
                await started.state.rate_limiter.clear()


def _call(text: str, request_id: uuid.UUID | None = None) -> ObservedCall:
    return ObservedCall(
        agent_name="unused",
        input_text=text,
        output_text="A short, kind answer.",
        model="gpt-4o-mini",
        provider="openai",
        operation="chat",
        input_tokens=10,
        output_tokens=5,
        trace_id="ab" * 16,
        span_id=uuid.uuid4().hex[:16],
        duration_ms=12.5,
        request_id=request_id or uuid.uuid4(),
    )


async def _queue(app: AppState, user: Caller, calls: list[tuple[str, ObservedCall]]) -> None:
    """One queue row (as one /v1/traces request writes it) of (agent id, call) pairs."""
    payload = orjson.dumps([{"agent_id": a, "call": c.to_json()} for a, c in calls])
    async with app.stores.database.session() as session:
        await ingest_queue.enqueue(session, app.keyring, user.user_id, len(calls), payload)


async def _agent(user: Caller, name: str) -> str:
    agent_id: str = (await user.create(name))["id"]
    await user.ok("mutation($id: UUID!) { activateAgent(id: $id) { id } }", id=agent_id)
    return agent_id


async def _count(app: AppState, model: type[object]) -> int:
    async with app.stores.database.read() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def _state_version(app: AppState, agent_id: str) -> int:
    async with app.stores.database.read() as session:
        statement = select(Agent.state_version).where(col(Agent.id) == uuid.UUID(agent_id))
        return int((await session.exec(statement)).one())


async def test_a_claim_that_fails_midway_stores_nothing_and_is_then_stored_batch_by_batch(
    queue_app: tuple[AppState, Caller],
) -> None:
    app, ada = queue_app
    first, second = await _agent(ada, "first"), await _agent(ada, "second")
    replayed = _call("Plan my week, please.")
    await _queue(app, ada, [(first, replayed), (first, _call("And my weekend?"))])
    # The second batch repeats a request id of the first for its second agent: storing both
    # in one transaction fails at that agent's insert, after the first agent's rows.
    await _queue(app, ada, [(second, _call("Summarise this.")), (second, replayed)])
    worker = IngestWorker()
    worker.attach(app)

    assert await worker._drain_one(app)  # the claim of both batches fails
    assert await _count(app, ConsciousnessSession) == 0
    assert await _count(app, MetricsOutbox) == 0
    assert await _count(app, IngestQueue) == 2
    assert await _state_version(app, first) == 0
    assert worker.stats().failures == 1

    assert await worker.drain()  # one batch at a time: the replayed call is found stored
    assert await _count(app, IngestQueue) == 0
    assert await _count(app, ConsciousnessSession) == 3
    assert await _state_version(app, first) == 1  # one compare-and-set for the two sessions
    sessions = await ada.ok(
        "query($a: UUID!) { consciousnessState(agentId: $a) { sessions } }", a=first
    )
    assert sessions["consciousnessState"]["sessions"] == 2
    assert worker.stats().stored_sessions == 3
    assert worker.stats().dead_letters == 0


async def test_a_batch_whose_agent_moved_on_is_refolded_under_the_lock_and_counted(
    queue_app: tuple[AppState, Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, ada = queue_app
    agent_id = await _agent(ada, "raced")
    await _queue(app, ada, [(agent_id, _call("Plan my week, please."))])
    real = sessions.store_agent_sessions

    async def raced(session: Any, version: int, *rows: Any) -> bool:
        """Before the first compare-and-set, another writer's session moves the state on."""
        if version == 0:
            other = engine.EngineRequest("I love how calm the sea is today.")
            state = engine.process(other, None, engine.EngineConfig())
            await session.exec(
                update(Agent)
                .where(col(Agent.id) == uuid.UUID(agent_id))
                .values(consciousness_state=state.state.to_dict(), state_version=1)
            )
        written: bool = await real(session, version, *rows)
        return written

    monkeypatch.setattr(sessions, "store_agent_sessions", raced)
    worker = IngestWorker()
    worker.attach(app)
    retries = app.state_retries[OTLP_PATH]
    assert await worker.drain()
    assert await _count(app, ConsciousnessSession) == 1
    assert await _state_version(app, agent_id) == 2  # written on the moved-on state
    state = await ada.ok(
        "query($a: UUID!) { consciousnessState(agentId: $a) { sessions } }", a=agent_id
    )
    assert state["consciousnessState"]["sessions"] == 2  # the other writer's, then the span's
    assert app.state_retries[OTLP_PATH] == retries + 1


async def test_a_batch_that_always_fails_is_dead_lettered_and_the_others_are_stored(
    queue_app: tuple[AppState, Caller],
) -> None:
    app, ada = queue_app
    agent = await _agent(ada, "scout")
    for text in ("One?", "Two?", "Three?"):
        await _queue(app, ada, [(agent, _call(text))])
    async with app.stores.database.session() as session:
        ids = (await session.exec(select(IngestQueue.id).order_by(col(IngestQueue.id)))).all()
        poison = ids[1]
        corrupt = update(IngestQueue).where(col(IngestQueue.id) == poison)
        await session.exec(corrupt.values(payload=b"not a sealed payload"))  # type: ignore[call-overload]
    clock = FakeClock()
    worker = IngestWorker()
    worker.attach(dataclasses.replace(app, clock=clock))

    assert await worker.drain()
    assert await _count(app, ConsciousnessSession) == 2  # the batches around it are stored
    for attempt in range(2, MAX_ATTEMPTS + 2):
        async with app.stores.database.read() as session:
            row = (await session.exec(select(IngestQueue))).one()
        assert row.id == poison
        assert row.attempts == min(attempt - 1, MAX_ATTEMPTS)
        assert row.last_error is not None
        assert "DataKeyError" in row.last_error
        assert (row.dead_at is not None) == (attempt > MAX_ATTEMPTS)
        assert await worker.drain()  # not due yet: nothing is tried
        clock.advance(ingest_queue.RETRY_DELAY_SECONDS)
        assert await worker.drain()

    assert worker.stats().dead_letters == 1
    async with app.stores.database.read() as session:
        assert await ingest_queue.dead_letters(session) == 1
        assert await ingest_queue.queued_spans(session) == 0  # a dead letter does not wait
        (row,) = (await session.exec(select(IngestQueue))).all()
    assert row.attempts == MAX_ATTEMPTS  # given up: claimed no more
    assert await _count(app, ConsciousnessSession) == 2
    exported = {
        sample.name: sample.value
        for family in IngestCollector(worker.stats).collect()
        for sample in family.samples
    }
    assert exported["ingest_worker_dead_letters_total"] == 1  # what /metrics shows
    assert exported["ingest_worker_stored_sessions_total"] == 2


@dataclasses.dataclass(frozen=True)
class _Recorded:
    """A fan-out of `lanes` that runs the parts in turn and records their sizes."""

    lanes: int
    sizes: list[int]

    async def run(self, work: Callable[..., Any], parts: Sequence[Any], /, *args: Any) -> Any:
        self.sizes.extend(len(part) for part in parts)
        return await InTurn().run(work, parts, *args)


STATE_AND_SESSIONS = """query($a: UUID!) {
  consciousnessState(agentId: $a) {
    sessions awarenessLevel ethicalAlignment ethicalScore violationRate confidence valence
    arousal cognitiveLoad violationCounts { category sessions }
  }
  consciousnessSessions(agentId: $a, first: 100) {
    edges { node { input blocked awarenessLevel ethicalScore confidence
                   violations { ruleId } } }
  }
}"""


async def test_a_long_series_split_over_lanes_stores_what_one_lane_stores(
    queue_app: tuple[AppState, Caller],
) -> None:
    """With a second lane (the server's engine worker process) a long series of one agent is
    analysed as parts at once, each from no state, and refolded: every session
    and the agent's final state are what one part in turn gives."""
    app, ada = queue_app
    texts = [
        "I hate waiting, this is awful and I am furious." if i % 3 else f"Plan day {i}, please."
        for i in range(3 * MIN_PART + 2)
    ]
    seen: dict[int, list[int]] = {}
    for lanes in (1, 2):
        agent = await _agent(ada, f"lanes-{lanes}")
        await _queue(app, ada, [(agent, _call(text)) for text in texts])
        sizes: list[int] = []
        worker = IngestWorker()
        worker.attach(dataclasses.replace(app, engine_fan_out=_Recorded(lanes, sizes)))
        assert await worker.drain()
        seen[lanes] = sizes
        found = await ada.ok(STATE_AND_SESSIONS, a=agent)
        if lanes == 1:
            whole = found
    assert seen == {1: [], 2: [17, 17, 16]}  # 50 runs: 3 parts of at least MIN_PART
    assert found["consciousnessState"]["sessions"] == len(texts)
    assert found == whole


def test_a_split_series_parts_are_contiguous_and_none_is_shorter_than_min_part() -> None:
    """As analyse_in_turn cuts a series for two lanes: every run once, in order, in parts
    whose sizes differ by at most one (a ceiling-sized cut left 100 runs a last part of 15);
    too short a series, or one lane, stays whole."""
    assert series_parts(list(range(2 * MIN_PART - 1)), 2) == [list(range(2 * MIN_PART - 1))]
    assert series_parts(list(range(900)), 1) == [list(range(900))]
    for runs in range(2 * MIN_PART, 900):
        parts = series_parts(list(range(runs)), 2)
        sizes = [len(part) for part in parts]
        assert [run for part in parts for run in part] == list(range(runs))
        assert len(parts) == min(2 * PARTS_PER_LANE, runs // MIN_PART)
        assert min(sizes) >= MIN_PART
        assert max(sizes) - min(sizes) <= 1
