"""`similarSessions` and `agentDrift`: the vector writer, ownership, filters, deletion,
retention and the spool when the vector store fails (on both store columns, with Qdrant's
local mode; tests/db/test_vectors.py runs the store itself against a Qdrant server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from core.enums import Role
from db.models import ConsciousnessSession
from db.stores import Stores
from db.vector_writer import EMBEDDED_BYTES, VectorWriter, opening
from db.vectors import VectorStore
from tests.agents.conftest import DELETE, insert_sessions
from tests.apps import Running
from tests.consciousness.conftest import PROCESS, Caller, MakeCaller, active_agent, process_input
from tests.servers import free_port
from tests.support import PASSWORD, only_error, wait_until

SIMILAR = """
query($agent: UUID!, $text: String, $session: UUID, $first: Int! = 10, $after: String,
      $filter: SimilarSessionsFilter) {
  similarSessions(agentId: $agent, text: $text, sessionId: $session, first: $first,
                  after: $after, filter: $filter) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { score session { id input blocked violations { category } } } }
  }
}"""
DRIFT = """
query($agent: UUID!, $window: Int!) {
  agentDrift(agentId: $agent, window: $window) { similarity recentSessions earlierSessions }
}"""
WEATHER = [
    "What will the weather be like tomorrow, rain or sun?",
    "Is it going to rain this weekend?",
    "Will there be rain or sun tomorrow morning?",
]
COOKING = [
    "How do I cook pasta for dinner?",
    "Which recipe should I cook for dinner with pasta and chicken?",
]


def writer_of(stores: Stores) -> VectorWriter:
    assert stores.vector_writer is not None
    return stores.vector_writer


async def processed(stores: Stores, owner: Caller, agent_id: str, texts: list[str]) -> list[str]:
    """Process `texts` through the agent and embed them now; the caller's session ids, oldest
    first."""
    for text in texts:
        await owner.send(PROCESS, input=process_input(agent_id, text))
    assert await writer_of(stores).drain()
    async with stores.database.session() as session:
        query = select(ConsciousnessSession).where(
            col(ConsciousnessSession.user_id) == owner.user_id
        )
        rows = (await session.exec(query)).all()
    return [str(row.id) for row in sorted(rows, key=lambda row: row.created_at)]


async def search(owner: Caller, agent_id: str, **variables: Any) -> list[dict[str, Any]]:
    data = await owner.ok(SIMILAR, agent=agent_id, **variables)
    edges: list[dict[str, Any]] = data["similarSessions"]["edges"]
    return [edge["node"] for edge in edges]


async def test_the_nearest_sessions_come_first_with_their_scores(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-ada")
    agent = await active_agent(owner)
    await processed(stores, owner, agent, WEATHER + COOKING)
    nodes = await search(owner, agent, text="Will it be sunny or rainy on Saturday?")
    inputs = [node["session"]["input"] for node in nodes]
    assert set(inputs[:3]) == set(WEATHER), inputs
    scores = [node["score"] for node in nodes]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= score <= 1.0 for score in scores)


async def test_sessions_are_found_by_their_opening_bytes(
    caller: MakeCaller, stores: Stores
) -> None:
    """A session is embedded by its first EMBEDDED_BYTES (the tokenizer holds the GIL for a
    whole text): two that open alike score as one, however they go on."""
    owner = await caller("vector-opening")
    agent = await active_agent(owner)
    start = "\N{SLIGHTLY SMILING FACE}" * (EMBEDDED_BYTES // 4)
    await processed(stores, owner, agent, [start + WEATHER[0], start + COOKING[0], COOKING[1]])
    nodes = await search(owner, agent, text=start + "x")
    scores = [node["score"] for node in nodes]
    assert scores[0] == pytest.approx(1.0, abs=1e-6)
    assert scores[1] == pytest.approx(1.0, abs=1e-6)  # the same vector: equal up to rounding
    assert scores[2] < 0.99
    assert opening("a" + "\N{SLIGHTLY SMILING FACE}" * (EMBEDDED_BYTES // 4)) == "a" + start[:-1]


async def test_a_processed_session_is_embedded_without_being_asked(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-wake")
    agent = await active_agent(owner)
    await owner.send(PROCESS, input=process_input(agent, WEATHER[0]))

    async def found() -> bool:
        return len(await search(owner, agent, text=WEATHER[0])) == 1

    await wait_until(found, "the vector writer embeds the new session")


async def test_a_search_by_session_excludes_that_session(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-bob")
    agent = await active_agent(owner)
    ids = await processed(stores, owner, agent, COOKING + WEATHER)
    nodes = await search(owner, agent, session=ids[0])
    found = [node["session"]["id"] for node in nodes]
    assert ids[0] not in found
    assert found[0] == ids[1]  # the other cooking question


async def test_another_users_sessions_never_appear(caller: MakeCaller, stores: Stores) -> None:
    owner, other = await caller("vector-own"), await caller("vector-other")
    mine, theirs = await active_agent(owner), await active_agent(other)
    await processed(stores, owner, mine, WEATHER)
    their_ids = await processed(stores, other, theirs, WEATHER)
    nodes = await search(owner, mine, text=WEATHER[0], first=100)
    assert len(nodes) == len(WEATHER)
    assert not {node["session"]["id"] for node in nodes} & set(their_ids)
    error = only_error(await owner.send(SIMILAR, agent=theirs, text=WEATHER[0]))
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = only_error(await owner.send(SIMILAR, agent=mine, session=their_ids[0]))
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_an_admin_searches_any_users_agent(caller: MakeCaller, stores: Stores) -> None:
    owner, admin = await caller("vector-owned"), await caller("vector-admin", Role.ADMIN)
    agent = await active_agent(owner)
    await processed(stores, owner, agent, COOKING)
    nodes = await search(admin, agent, text=COOKING[0])
    assert len(nodes) == len(COOKING)


async def test_filters_narrow_by_decision_category_and_time(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-filters")
    agent = await active_agent(owner)
    await processed(stores, owner, agent, [*WEATHER, "My card is 4111 1111 1111 1111, is it safe?"])
    flagged = await search(owner, agent, text="card number", filter={"decision": "FLAGGED"})
    assert [n["session"]["violations"][0]["category"] for n in flagged] == ["PII"]
    by_category = await search(owner, agent, text="weather", filter={"categories": ["PII"]})
    assert len(by_category) == 1
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await search(owner, agent, text="weather", filter={"since": future}) == []


async def test_pages_follow_the_ranking(caller: MakeCaller, stores: Stores) -> None:
    owner = await caller("vector-pages")
    agent = await active_agent(owner)
    await processed(stores, owner, agent, WEATHER + COOKING)
    whole = await search(owner, agent, text=WEATHER[0], first=5)
    data = await owner.ok(SIMILAR, agent=agent, text=WEATHER[0], first=2)
    page = data["similarSessions"]
    assert page["pageInfo"]["hasNextPage"]
    rest = await search(owner, agent, text=WEATHER[0], first=3, after=page["pageInfo"]["endCursor"])
    ids = [e["node"]["session"]["id"] for e in page["edges"]] + [n["session"]["id"] for n in rest]
    assert ids == [node["session"]["id"] for node in whole]


async def test_bad_arguments_are_named(caller: MakeCaller, stores: Stores) -> None:
    owner = await caller("vector-bad")
    agent = await active_agent(owner)
    cases = [
        ({}, "text"),
        ({"text": "a", "session": str(uuid.uuid4())}, "text"),
        ({"text": "  "}, "text"),
        ({"text": "a", "first": 0}, "first"),
        ({"text": "a", "after": "bogus"}, "after"),
        ({"text": "a", "filter": {"categories": ["X"] * 21}}, "filter.categories"),
    ]
    for variables, field in cases:
        error = only_error(await owner.send(SIMILAR, agent=agent, **variables))
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (variables, error)
        assert error["extensions"]["field"] == field


async def test_deleting_the_agent_deletes_its_vectors(caller: MakeCaller, stores: Stores) -> None:
    owner = await caller("vector-delete")
    agent = await active_agent(owner)
    ids = await processed(stores, owner, agent, WEATHER)
    vectors = writer_of(stores).store
    assert len(await vectors.vectors([uuid.UUID(i) for i in ids])) == len(ids)
    await owner.ok(DELETE, id=agent, confirm=True)
    assert await vectors.vectors([uuid.UUID(i) for i in ids]) == {}


async def test_a_failing_vector_store_keeps_the_sessions_waiting(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-spool")
    agent = await active_agent(owner)
    writer = writer_of(stores)
    working = writer.store
    unreachable = VectorStore.open(f"http://127.0.0.1:{free_port()}", "", Path())
    failures = writer.stats().failures
    writer.store = unreachable  # a real client of a port nobody listens on
    try:
        for text in WEATHER:
            await owner.send(PROCESS, input=process_input(agent, text))
        assert not await writer.drain()
        assert writer.stats().failures > failures
        async with stores.database.session() as session:
            flags = (
                await session.exec(
                    select(ConsciousnessSession.vectorised).where(
                        col(ConsciousnessSession.user_id) == owner.user_id
                    )
                )
            ).all()
        assert flags
        assert not any(flags)
    finally:
        writer.store = working
        await unreachable.close()
    assert await writer.drain()
    assert len(await search(owner, agent, text=WEATHER[0])) == len(WEATHER)


async def test_retention_deletes_old_vectors(
    caller: MakeCaller, stores: Stores, app: Running
) -> None:
    owner = await caller("vector-retention")
    agent = await active_agent(owner)
    old = await insert_sessions(
        app,
        uuid.UUID(agent),
        owner.user_id,
        [1.0, 2.0],
        start=datetime.now(UTC) - timedelta(days=app.state.settings.vector_retention_days + 1),
    )
    recent = await processed(stores, owner, agent, WEATHER[:1])
    writer = writer_of(stores)
    assert await writer.drain()
    old_ids = [row.id for row in old]
    assert len(await writer.store.vectors(old_ids)) == 2
    await writer.apply_retention()
    assert await writer.store.vectors(old_ids) == {}
    assert len(await writer.store.vectors([uuid.UUID(recent[-1])])) == 1


async def test_drift_is_higher_when_recent_inputs_resemble_earlier_ones(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-drift")
    agent = await active_agent(owner)
    await processed(stores, owner, agent, WEATHER + COOKING)
    drift = (await owner.ok(DRIFT, agent=agent, window=2))["agentDrift"]
    assert drift["recentSessions"] == 2
    assert drift["earlierSessions"] == 3
    steady = drift["similarity"]
    await processed(stores, owner, agent, WEATHER)
    back = (await owner.ok(DRIFT, agent=agent, window=3))["agentDrift"]["similarity"]
    assert -1.0 <= steady <= 1.0
    assert back > steady  # three weather questions after a mixed history: nearer its centre
    empty = await active_agent(owner, "empty")
    assert (await owner.ok(DRIFT, agent=empty, window=5))["agentDrift"]["similarity"] is None
    error = only_error(await owner.send(DRIFT, agent=agent, window=0))
    assert error["extensions"]["field"] == "window"


EXPORT = "mutation { exportMyData { data } }"
ERASE = """mutation($password: String!) { deleteMyAccount(confirm: true, password: $password) }"""


async def test_export_lists_the_vectors_and_erasure_deletes_them(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("vector-gdpr")
    agent = await active_agent(owner)
    ids = await processed(stores, owner, agent, COOKING)
    embeddings = (await owner.ok(EXPORT))["exportMyData"]["data"]["session_embeddings"]
    assert embeddings["model"].startswith("wordllama")
    assert "not" in embeddings["note"]  # says why the vectors themselves are left out
    assert sorted(point["session_id"] for point in embeddings["points"]) == sorted(ids)
    assert {point["agent_id"] for point in embeddings["points"]} == {agent}
    await owner.ok(ERASE, password=PASSWORD)
    assert await writer_of(stores).store.owned_points(owner.user_id) == []


async def test_metrics_count_the_vectors_written(
    caller: MakeCaller, stores: Stores, client: httpx.AsyncClient
) -> None:
    owner = await caller("vector-metrics")
    agent = await active_agent(owner)
    await processed(stores, owner, agent, COOKING)
    body = (await client.get("/metrics")).text
    written = [line for line in body.splitlines() if line.startswith("vector_writer_written")]
    assert written
    assert float(written[0].split()[-1]) >= len(COOKING)
