"""The vector store on its own: write, search under the ownership filter, delete, export.

`local`: qdrant-client's local mode in a temporary folder (always). `server`: a Qdrant
server, only when QDRANT_TEST_URL names one: none runs on the development or CI machines,
so this column is an explicit opt-in and skips with that reason, under CI=true too (the
tests/conftest.py rule that CI fails instead of skipping is for the servers CI provides).
The server column drops and recreates the collection: point it at a throwaway server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.errors import ServiceUnavailable
from db.vectors import SearchFilter, SessionVector, VectorStore
from tests.servers import free_port

DIMENSION = 8
QDRANT_TEST_URL = os.environ.get("QDRANT_TEST_URL", "")


@pytest.fixture(params=["local", "server"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    if request.param == "server" and not QDRANT_TEST_URL:
        pytest.skip("no Qdrant server: set QDRANT_TEST_URL=http://host:6333 to run this column")
    opened = VectorStore.open(QDRANT_TEST_URL if request.param == "server" else "", "", tmp_path)
    await opened.recreate(DIMENSION)
    yield opened
    await opened.close()


def unit(*values: float) -> list[float]:
    vector = np.zeros(DIMENSION)
    vector[: len(values)] = values
    return list(vector / np.linalg.norm(vector))


def vector_of(
    owner: uuid.UUID,
    agent: uuid.UUID,
    direction: list[float],
    *,
    decision: str = "ANSWERED",
    categories: tuple[str, ...] = (),
    age_days: float = 0,
) -> SessionVector:
    at = datetime.now(UTC) - timedelta(days=age_days)
    return SessionVector(uuid.uuid4(), agent, owner, owner, at, decision, categories, direction)


async def test_search_is_scoped_to_owner_and_agent_best_first(store: VectorStore) -> None:
    owner, other, agent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    near, far = vector_of(owner, agent, unit(1, 0.1)), vector_of(owner, agent, unit(0, 1))
    foreign = vector_of(other, agent, unit(1, 0))  # another owner's point, the same agent id
    await store.upsert([near, far, foreign])
    found = await store.search(unit(1, 0), SearchFilter(owner, agent), 10, 0)
    assert [session_id for session_id, _ in found] == [near.session_id, far.session_id]
    assert found[0][1] > found[1][1]
    assert await store.search(unit(1, 0), SearchFilter(uuid.uuid4(), agent), 10, 0) == []


async def test_filters_and_exclusion(store: VectorStore) -> None:
    owner, agent = uuid.uuid4(), uuid.uuid4()
    flagged = vector_of(owner, agent, unit(1), decision="FLAGGED", categories=("PII",))
    old = vector_of(owner, agent, unit(1, 1), age_days=10)
    await store.upsert([flagged, old])
    where = SearchFilter(owner, agent, decision="FLAGGED")
    assert [i for i, _ in await store.search(unit(1), where, 10, 0)] == [flagged.session_id]
    where = SearchFilter(owner, agent, categories=("PII", "VIOLENCE"))
    assert [i for i, _ in await store.search(unit(1), where, 10, 0)] == [flagged.session_id]
    where = SearchFilter(owner, agent, since=datetime.now(UTC) - timedelta(days=1))
    assert [i for i, _ in await store.search(unit(1), where, 10, 0)] == [flagged.session_id]
    where = SearchFilter(owner, agent, exclude=flagged.session_id)
    assert [i for i, _ in await store.search(unit(1), where, 10, 0)] == [old.session_id]


async def test_writing_a_session_twice_keeps_one_point(store: VectorStore) -> None:
    point = vector_of(uuid.uuid4(), uuid.uuid4(), unit(1))
    await store.upsert([point])
    await store.upsert([point])
    assert await store.count() == 1


async def test_deletes_by_agent_user_and_age(store: VectorStore) -> None:
    owner, agent, other_agent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    points = [
        vector_of(owner, agent, unit(1)),
        vector_of(owner, other_agent, unit(1)),
        vector_of(uuid.uuid4(), uuid.uuid4(), unit(1), age_days=100),
        vector_of(uuid.uuid4(), uuid.uuid4(), unit(1)),
    ]
    await store.upsert(points)
    assert len(await store.owned_points(owner)) == 2
    await store.delete_where(agent_id=agent)
    assert await store.count() == 3
    await store.delete_where(user_id=owner)
    assert await store.owned_points(owner) == []
    await store.delete_where(before=datetime.now(UTC) - timedelta(days=90))
    assert list(await store.vectors([p.session_id for p in points])) == [points[3].session_id]


async def test_a_collection_of_another_dimension_asks_for_a_reindex(store: VectorStore) -> None:
    with pytest.raises(ServiceUnavailable, match="consciousness reindex"):
        await store.migrate(DIMENSION * 2)
    await store.migrate(DIMENSION)  # the same dimension: nothing to do


async def test_an_unreachable_server_is_service_unavailable(tmp_path: Path) -> None:
    store = VectorStore.open(f"http://127.0.0.1:{free_port()}", "", tmp_path)
    try:
        with pytest.raises(ServiceUnavailable, match="vector store is unavailable"):
            await store.ping()
    finally:
        await store.close()
