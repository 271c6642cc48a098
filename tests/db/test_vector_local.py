"""Local mode's vector file commits without waiting for the disk (db/vector_local.py), and
keeps every point a process wrote once it is closed and opened again."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from db.vector_local import commit_without_waiting, local_storage, one_commit
from db.vectors import COLLECTION, LOCAL_UPSERT_CHUNK, VectorStore

from .test_vectors import DIMENSION, unit, vector_of


def _journal(store: VectorStore) -> tuple[str, int]:
    storage = local_storage(store._client, COLLECTION)
    assert storage is not None, "qdrant-client no longer keeps its local file where we look"
    mode = storage.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = storage.execute("PRAGMA synchronous").fetchone()[0]
    return str(mode), int(synchronous)


async def test_a_new_and_a_reopened_collection_commit_in_wal_with_normal_sync(
    tmp_path: Path,
) -> None:
    owner, agent = uuid.uuid4(), uuid.uuid4()
    store = VectorStore.open("", "", tmp_path)
    await store.migrate(DIMENSION)  # created here
    assert _journal(store) == ("wal", 1)  # 1: NORMAL
    await store.upsert([vector_of(owner, agent, unit(1.0)) for _ in range(3)])
    await store.close()

    reopened = VectorStore.open("", "", tmp_path)
    await reopened.migrate(DIMENSION)  # found here
    assert _journal(reopened) == ("wal", 1)
    assert await reopened.count() == 3  # what a closed process wrote is there
    await reopened.recreate(DIMENSION)  # `consciousness reindex`
    assert _journal(reopened) == ("wal", 1)
    await reopened.close()


def test_a_client_without_a_local_file_is_left_alone_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = QdrantClient(":memory:")  # local mode without persistence: no file
    try:
        params = models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)
        client.create_collection(COLLECTION, vectors_config=params)
        with caplog.at_level(logging.WARNING, logger="db.vector_local"):
            assert not commit_without_waiting(client, COLLECTION)
    finally:
        client.close()
    assert "commits wait for disk" in caplog.text


async def test_the_points_of_a_chunk_share_one_commit_and_stay_stored(tmp_path: Path) -> None:
    owner, agent = uuid.uuid4(), uuid.uuid4()
    store = VectorStore.open("", "", tmp_path)
    await store.migrate(DIMENSION)
    storage = local_storage(store._client, COLLECTION)
    assert storage is not None
    statements: list[str] = []
    storage.set_trace_callback(statements.append)
    points = 2 * LOCAL_UPSERT_CHUNK + 3  # three chunks
    await store.upsert([vector_of(owner, agent, unit(1.0)) for _ in range(points)])
    storage.set_trace_callback(None)
    assert sum(s.startswith("INSERT OR REPLACE") for s in statements) == points
    assert sum(s == "COMMIT" for s in statements) == 3
    await store.close()

    reopened = VectorStore.open("", "", tmp_path)
    await reopened.migrate(DIMENSION)
    assert await reopened.count() == points
    await reopened.close()


def _write_then_fail(client: QdrantClient, good: list[models.PointStruct]) -> None:
    wrong_size = models.PointStruct(id=str(uuid.uuid4()), vector=[1.0])
    with one_commit(client, COLLECTION):
        client.upsert(COLLECTION, good, wait=True)
        client.upsert(COLLECTION, [wrong_size], wait=True)  # raises, leaving the block


def test_points_applied_before_a_failing_one_are_committed(tmp_path: Path) -> None:
    """What was applied in memory is what is stored, as with a commit a point."""
    client = QdrantClient(path=str(tmp_path))
    params = models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)
    client.create_collection(COLLECTION, vectors_config=params)
    good = [models.PointStruct(id=str(uuid.uuid4()), vector=unit(1.0)) for _ in range(2)]
    with pytest.raises(ValueError, match="dimension"):
        _write_then_fail(client, good)
    assert client.count(COLLECTION).count == 2
    client.close()
    reopened = QdrantClient(path=str(tmp_path))
    assert reopened.count(COLLECTION).count == 2
    reopened.close()
