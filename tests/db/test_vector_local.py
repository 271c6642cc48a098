"""Local mode's vector file commits without waiting for the disk (db/vector_local.py), and
keeps every point a process wrote once it is closed and opened again."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from db.vector_local import commit_without_waiting, local_storage
from db.vectors import COLLECTION, VectorStore

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
