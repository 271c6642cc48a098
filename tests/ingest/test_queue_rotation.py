"""`consciousness rotate-data-key` re-seals the ingestion queue's payloads too: they hold
raw prompts until analysed, so an old data key cannot go while a batch still needs it."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path

import pytest
from sqlmodel import col, select

from db.crypto import DataKeyError, Keyring
from db.migrate import upgrade_database
from db.models import IngestQueue, User
from db.repositories import ingest_queue
from db.session import Database
from server.cli import main


def _key(key_id: str) -> tuple[str, bytes]:
    return key_id, os.urandom(32)


def _setting(*keys: tuple[str, bytes]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keys)


async def _queue(database: Database, keyring: Keyring, payloads: list[bytes]) -> None:
    user_id = uuid.uuid4()
    async with database.session() as session:
        session.add(
            User(id=user_id, username=user_id.hex, email="q@example.org", password_hash="x")
        )
        await session.flush()
        for payload in payloads:
            await ingest_queue.enqueue(session, keyring, user_id, 1, payload)


async def _opened(database: Database, keyring: Keyring) -> list[bytes]:
    """Each queued payload opened with `keyring`, in queue order (as the worker opens them)."""
    async with database.session() as session:
        rows = (await session.exec(select(IngestQueue).order_by(col(IngestQueue.id)))).all()
    return [
        keyring.open(row.key_id, row.payload, b"ingest_queue.payload:" + row.batch_id.bytes)
        for row in rows
    ]


async def test_rotation_re_seals_every_queued_batch_so_the_old_key_can_go(
    own_database: Database,
) -> None:
    old, new = _key("old"), _key("new")
    payloads = [f'[{{"call": {i}}}]'.encode() for i in range(5)]
    await _queue(own_database, Keyring("old", dict([old])), payloads)
    both = Keyring("new", dict([new, old]))
    async with own_database.session() as session:
        assert await ingest_queue.count_to_rotate(session, both) == 5
    while True:
        async with own_database.write_session() as session:
            if await ingest_queue.rotate_batch(session, both, 2) == 0:
                break
    only_new = Keyring("new", dict([new]))
    async with own_database.session() as session:
        assert await ingest_queue.count_to_rotate(session, only_new) == 0
    assert await _opened(own_database, only_new) == payloads


async def test_rotation_names_a_queued_batch_it_cannot_open(own_database: Database) -> None:
    await _queue(own_database, Keyring("lost", dict([_key("lost")])), [b"[]"])
    keyring = Keyring("new", dict([_key("new")]))
    with pytest.raises(DataKeyError, match=r"queued OTLP batch .*'lost' is not in"):
        async with own_database.write_session() as session:
            await ingest_queue.rotate_batch(session, keyring, 10)
    async with own_database.session() as session:
        (key_id,) = (await session.exec(select(IngestQueue.key_id))).all()
    assert key_id == "lost"  # nothing changed


def test_rotate_data_key_command_re_encrypts_queued_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = _key("k1"), _key("k2")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'consciousness.db'}")
    payloads = [b'[{"call": "a"}]', b'[{"call": "b"}]', b'[{"call": "c"}]']

    async def prepare() -> None:
        await upgrade_database(database.engine)
        await _queue(database, Keyring("k1", dict([old])), payloads)

    asyncio.run(prepare())
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", _setting(new, old))
    monkeypatch.setenv("DATA_ENCRYPTION_KEY_ID", "k2")
    assert main(["rotate-data-key", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 queued OTLP batches to re-encrypt under data key 'k2'" in out
    assert "re-encrypted 2 of 3 queued OTLP batches" in out
    assert main(["rotate-data-key"]) == 0
    assert "0 queued OTLP batches to re-encrypt" in capsys.readouterr().out

    async def check() -> list[bytes]:
        try:
            return await _opened(database, Keyring("k2", dict([new])))
        finally:
            await database.close()

    assert asyncio.run(check()) == payloads
