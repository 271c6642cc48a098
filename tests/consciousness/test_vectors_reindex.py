"""`consciousness reindex`: rebuilds the session embeddings from the stored sessions, in
batches, resumable, after a lost store."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import pytest

from db.crypto import Keyring
from db.migrate import upgrade_database
from db.session import Database
from db.vector_queue import count_waiting
from db.vectors import VectorStore
from server.cli import main
from tests.consciousness.test_encryption import _sessions, new_key, setting


async def stored_vectors(data_dir: Path, ids: list[uuid.UUID]) -> int:
    store = VectorStore.open("", "", data_dir / "vectors")
    try:
        return len(await store.vectors(ids))
    finally:
        await store.close()


def test_reindex_embeds_every_session_resumes_and_rebuilds_a_lost_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_key("k1")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'consciousness.db'}")

    async def prepare() -> list[uuid.UUID]:
        await upgrade_database(database.engine)
        return await _sessions(database, Keyring("k1", dict([key])), 6)

    ids = asyncio.run(prepare())
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "QDRANT_URL", "JWT_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", ",".join(setting(key)))
    assert main(["reindex", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "7 sessions to embed" in out
    assert "[############..................] 3/7" in out
    assert "done: 7 sessions embedded, 0 skipped" in out
    assert asyncio.run(stored_vectors(tmp_path, ids)) == 7

    assert main(["reindex", "--resume"]) == 0  # nothing left: nothing done, nothing lost
    assert "0 sessions to embed" in capsys.readouterr().out
    assert asyncio.run(stored_vectors(tmp_path, ids)) == 7

    shutil.rmtree(tmp_path / "vectors")  # the store is lost
    assert main(["reindex"]) == 0
    assert "7 sessions to embed" in capsys.readouterr().out
    assert asyncio.run(stored_vectors(tmp_path, ids)) == 7

    async def waiting() -> int:
        try:
            return await count_waiting(database)
        finally:
            await database.close()

    assert asyncio.run(waiting()) == 0


def test_reindex_refuses_a_bad_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reindex", "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1" in capsys.readouterr().err


def test_a_session_that_does_not_open_is_skipped_not_retried_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'consciousness.db'}")

    async def prepare() -> list[uuid.UUID]:
        await upgrade_database(database.engine)
        ids = await _sessions(database, Keyring("lost", dict([new_key("lost")])), 2)
        await database.close()
        return ids

    ids = asyncio.run(prepare())
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "QDRANT_URL", "JWT_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", ",".join(setting(new_key("k2"))))
    assert main(["reindex"]) == 0
    assert "done: 1 sessions embedded, 2 skipped" in capsys.readouterr().out
    assert asyncio.run(stored_vectors(tmp_path, ids)) == 1  # the plaintext row only
