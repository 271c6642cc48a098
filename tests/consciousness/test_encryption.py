"""Session texts at rest: AES-256-GCM per row and column, failing closed, rotated online."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from core.settings import ConfigurationError, Settings, load_settings
from db.crypto import DataKeyError, Keyring
from db.migrate import upgrade_database
from db.models import Agent, ConsciousnessSession, User
from db.models import ConsciousnessSession as Sealed
from db.repositories.session_texts import (
    SessionTexts,
    count_to_rotate,
    open_texts,
    rotate_batch,
    seal_texts,
)
from db.session import Database
from db.stores import Stores
from server.cli import main
from tests.apps import Running
from tests.consciousness.conftest import (
    PROCESS,
    MakeCaller,
    active_agent,
    caller,
    process_input,
    session_rows,
)
from tests.support import OLD_USER, insert_raw, only_error

__all__ = ["caller"]

SECRET = "my passport number is X1234567 and the code word is marmalade"
SESSIONS = """query($id: UUID!) { consciousnessSessions(agentId: $id, first: 10) {
  edges { node { id input response context } } } }"""
EXPORT_MINE = "mutation { exportMyData { data } }"


def new_key(key_id: str) -> tuple[str, bytes]:
    return key_id, os.urandom(32)


def setting(*keys: tuple[str, bytes]) -> list[str]:
    return [f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keys]


async def raw_columns(stores: Stores, session_id: uuid.UUID) -> Any:
    async with stores.database.session() as session:
        query = select(
            col(Sealed.input_text),
            col(Sealed.response_text),
            col(Sealed.context),
            col(Sealed.key_id),
        ).where(col(Sealed.id) == session_id)
        return (await session.exec(query)).one()


async def processed_session(owner: Any, app: Running, name: str = "thinker") -> Sealed:
    agent_id = await active_agent(owner, name)
    context = {"note": "marmalade", "n": 1}
    await owner.ok(PROCESS, input=process_input(agent_id, SECRET, context=context))
    [row] = await session_rows(app.state.stores, agent_id)
    return row


async def test_stored_texts_are_ciphertext_under_the_current_key_and_read_back(
    caller: MakeCaller, app: Running
) -> None:
    owner = await caller("keeper")
    row = await processed_session(owner, app)
    stored_input, stored_response, stored_context, key_id = await raw_columns(
        app.state.stores, row.id
    )
    assert key_id == app.state.keyring.current_id
    for value in (stored_input, stored_response, stored_context):
        assert b"marmalade" not in bytes(value)
        assert b"passport" not in bytes(value)
    page = (await owner.ok(SESSIONS, id=str(row.agent_id)))["consciousnessSessions"]
    [node] = [edge["node"] for edge in page["edges"]]
    assert "marmalade" in node["input"]
    assert node["response"]
    assert node["context"] == {"note": "marmalade", "n": 1}
    exported = (await owner.ok(EXPORT_MINE))["exportMyData"]["data"]
    [session] = exported["consciousness_sessions"]
    assert "marmalade" in session["input_text"]
    assert session["context"] == {"note": "marmalade", "n": 1}
    assert "key_id" not in session


async def test_ciphertext_swapped_between_rows_fails_closed(
    caller: MakeCaller, app: Running
) -> None:
    owner = await caller("swapper")
    first = await processed_session(owner, app)
    second = await processed_session(owner, app, "another")
    async with app.state.stores.database.session() as session:
        moving = update(Sealed).where(col(Sealed.id) == first.id)
        await session.exec(moving.values(input_text=second.input_text))
    [moved] = await session_rows(app.state.stores, str(first.agent_id))
    with pytest.raises(DataKeyError, match=f"session {first.id}, input_text"):
        open_texts(app.state.keyring, moved)
    answer = await owner.send(SESSIONS, id=str(first.agent_id))
    assert only_error(answer)["extensions"]["code"] == "INTERNAL"
    assert "marmalade" not in str(answer)


async def test_a_wrong_or_missing_key_fails_closed_with_a_clear_error(
    caller: MakeCaller, app: Running
) -> None:
    owner = await caller("loser")
    row = await processed_session(owner, app)
    current = app.state.keyring.current_id
    impostor = Keyring(current, dict([(current, os.urandom(32))]))
    with pytest.raises(DataKeyError, match="the key is wrong, or the value was altered"):
        open_texts(impostor, row)
    elsewhere = Keyring("other", dict([new_key("other")]))
    with pytest.raises(DataKeyError, match=f"data key {current!r} is not in DATA_ENCRYPTION_KEYS"):
        open_texts(elsewhere, row)


async def _sessions(database: Database, keyring: Keyring, count: int) -> list[uuid.UUID]:
    """`count` sessions of a new user's agent sealed under `keyring`, plus one plaintext row
    as written before encryption at rest; all their ids."""
    user_id, agent_id = uuid.uuid4(), uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(count + 1)]
    async with database.session() as session:
        session.add(
            User(id=user_id, username=user_id.hex, email="r@example.org", password_hash="x")
        )
        await session.flush()
        session.add(Agent(id=agent_id, owner_id=user_id, name="r", agent_type="ANALYTICAL"))
        await session.flush()
        for index, session_id in enumerate(ids):
            texts = SessionTexts(f"input {index}", f"answer {index}", {"i": index})
            sealed: dict[str, Any] = vars(seal_texts(keyring, session_id, texts))
            if index == count:  # the plaintext row
                sealed = {"key_id": None, "input_text": b"old", "response_text": None}
                sealed["context"] = b"{}"
            session.add(
                ConsciousnessSession(
                    id=session_id,
                    request_id=uuid.uuid4(),
                    agent_id=agent_id,
                    user_id=user_id,
                    awareness_level=0.5,
                    ethical_score=1.0,
                    confidence=0.5,
                    processing_time_ms=1.0,
                    **sealed,
                )
            )
    return ids


async def rotate_all(database: Database, keyring: Keyring, batch: int) -> None:
    while True:
        async with database.write_session() as session:
            if await rotate_batch(session, keyring, batch) == 0:
                return


async def test_rotation_re_seals_every_row_so_the_old_key_can_go(own_database: Database) -> None:
    old, new = new_key("old"), new_key("new")
    ids = await _sessions(own_database, Keyring("old", dict([old])), 5)
    both = Keyring("new", dict([new, old]))
    async with own_database.session() as session:
        assert await count_to_rotate(session, both) == 6
    await rotate_all(own_database, both, 2)
    only_new = Keyring("new", dict([new]))
    async with own_database.session() as session:
        assert await count_to_rotate(session, only_new) == 0
        rows = [await session.get(ConsciousnessSession, session_id) for session_id in ids]
    opened = [open_texts(only_new, row) for row in rows if row is not None]
    assert [texts.input_text for texts in opened] == [*(f"input {i}" for i in range(5)), "old"]
    assert opened[2].context == {"i": 2}
    assert {row.key_id for row in rows if row is not None} == {"new"}


async def test_two_rotations_at_once_re_seal_each_row_once(own_database: Database) -> None:
    """As a rotation beside a running server, or a second one started by mistake, would."""
    old, new = new_key("k1"), new_key("k2")
    ids = await _sessions(own_database, Keyring("k1", dict([old])), 40)
    keyring = Keyring("k2", dict([new, old]))
    await asyncio.gather(rotate_all(own_database, keyring, 3), rotate_all(own_database, keyring, 3))
    async with own_database.session() as session:
        rows = [await session.get(ConsciousnessSession, session_id) for session_id in ids]
    only_new = Keyring("k2", dict([new]))
    opened = [open_texts(only_new, row).input_text for row in rows if row is not None]
    assert opened == [*(f"input {i}" for i in range(40)), "old"]


def test_rotate_data_key_command_re_encrypts_in_batches_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = new_key("k1"), new_key("k2")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'consciousness.db'}")

    async def prepare() -> list[uuid.UUID]:
        await upgrade_database(database.engine)
        return await _sessions(database, Keyring("k1", dict([old])), 7)

    ids = asyncio.run(prepare())
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", ",".join(setting(new, old)))
    monkeypatch.setenv("DATA_ENCRYPTION_KEY_ID", "k2")
    assert main(["rotate-data-key", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "8 sessions to re-encrypt under data key 'k2'" in out
    assert "re-encrypted 3 of 8" in out
    assert main(["rotate-data-key"]) == 0  # run again: nothing left, nothing broken
    assert "0 sessions to re-encrypt" in capsys.readouterr().out

    async def check() -> list[str]:
        async with database.session() as session:
            rows = [await session.get(ConsciousnessSession, session_id) for session_id in ids]
        await database.close()
        return [open_texts(Keyring("k2", dict([new])), r).input_text for r in rows if r]

    assert asyncio.run(check())[-1] == "old"


def test_rotate_data_key_names_a_row_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'consciousness.db'}")

    async def prepare() -> None:
        await upgrade_database(database.engine)
        await _sessions(database, Keyring("lost", dict([new_key("lost")])), 1)
        await database.close()

    asyncio.run(prepare())
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", ",".join(setting(new_key("k2"))))
    assert main(["rotate-data-key"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: session ")
    assert "input_text: data key 'lost' is not in DATA_ENCRYPTION_KEYS" in last


@pytest.mark.parametrize(
    ("keys", "key_id", "message"),
    [
        ("k1:short", "", "DATA_ENCRYPTION_KEYS"),
        ("k1:" + base64.b64encode(b"x" * 16).decode(), "", "must be 32 bytes, not 16"),
        ("bad id:" + base64.b64encode(b"x" * 32).decode(), "", "each key is id:base64"),
        ("k1:" + base64.b64encode(b"x" * 32).decode(), "k9", "'k9' is not a key id"),
    ],
)
def test_bad_data_keys_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, keys: str, key_id: str, message: str
) -> None:
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", keys)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY_ID", key_id)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_production_refuses_to_start_without_data_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRETS", "s" * 40)
    monkeypatch.delenv("DATA_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ConfigurationError, match="DATA_ENCRYPTION_KEYS must be set in production"):
        load_settings()


def test_development_generates_one_marked_key_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    current, keys = settings.data_keys()
    assert current == "dev-generated"
    assert len(keys[current]) == 32
    assert (tmp_path / "data_key").stat().st_mode & 0o777 == 0o600
    assert settings.data_keys() == (current, keys)


async def test_sessions_from_before_the_migration_read_as_plaintext_until_rotated(
    empty_database: Database,
) -> None:
    database = empty_database
    await upgrade_database(database.engine, "0004")
    user_id, agent_id, session_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with database.session() as session:
        await insert_raw(
            session,
            [
                (OLD_USER, {"id": user_id}),
                (
                    "INSERT INTO agents (id, owner_id, name, description, agent_type, "
                    "configuration, consciousness_state, state_version, status, version, "
                    "ethics_feedback, created_at, updated_at) "
                    "VALUES (:id, :owner, 'a', '', 'ANALYTICAL', '{}', '{}', 0, 'active', 1, "
                    "'[]', :now, :now)",
                    {"id": agent_id, "owner": user_id},
                ),
                (
                    "INSERT INTO consciousness_sessions (id, request_id, agent_id, user_id, "
                    "input_text, response_text, context, consciousness_state, "
                    "processing_metrics, ethical_evaluation, awareness_level, ethical_score, "
                    "confidence, processing_time_ms, blocked, created_at) VALUES (:id, "
                    ":request, :agent, :owner, 'an old input', 'an old answer', "
                    "'{\"k\": \"v\"}', '{}', '{}', '{}', 0.5, 1, 0.5, 1, false, :now)",
                    {
                        "id": session_id,
                        "request": uuid.uuid4(),
                        "agent": agent_id,
                        "owner": user_id,
                    },
                ),
            ],
        )
    await upgrade_database(database.engine)
    keyring = Keyring("k1", dict([new_key("k1")]))
    async with database.session() as session:
        row = await session.get(Sealed, session_id)
    assert row is not None
    assert row.key_id is None
    assert open_texts(keyring, row) == SessionTexts("an old input", "an old answer", {"k": "v"})
    await rotate_all(database, keyring, 10)
    async with database.session() as session:
        row = await session.get(Sealed, session_id)
    assert row is not None
    assert row.key_id == "k1"
    assert b"old input" not in row.input_text
    assert open_texts(keyring, row).input_text == "an old input"
