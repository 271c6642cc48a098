"""A session's texts at rest: its input, response and request context, sealed (db/crypto.py).

Each value's associated data is the table, the session's id and the column, so a
ciphertext moved to another row or column fails to open. Rows with no key id were written
before encryption at rest and hold plaintext until `rotate_batch` seals them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, func, or_, select, update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.crypto import DataKeyError, Keyring
from db.models import ConsciousnessSession

_SESSIONS = SQLModel.metadata.tables[str(ConsciousnessSession.__tablename__)]


@dataclass(frozen=True)
class SessionTexts:
    """A session's texts in the clear."""

    input_text: str
    response_text: str | None
    context: dict[str, Any]


@dataclass(frozen=True)
class SealedTexts:
    """A session's texts as stored: each sealed under the data key `key_id`."""

    key_id: str
    input_text: bytes
    response_text: bytes | None
    context: bytes


def _associated_data(session_id: uuid.UUID, column: str) -> bytes:
    return b"consciousness_sessions/" + session_id.bytes + b"/" + column.encode()


def seal_texts(keyring: Keyring, session_id: uuid.UUID, texts: SessionTexts) -> SealedTexts:
    """`texts` sealed under the current key, each bound to session `session_id`'s column."""

    def seal(column: str, value: bytes) -> bytes:
        return keyring.seal(value, _associated_data(session_id, column))

    response = texts.response_text
    return SealedTexts(
        key_id=keyring.current_id,
        input_text=seal("input_text", texts.input_text.encode()),
        response_text=None if response is None else seal("response_text", response.encode()),
        context=seal("context", orjson.dumps(texts.context)),
    )


def open_texts(keyring: Keyring, row: ConsciousnessSession) -> SessionTexts:
    """The texts of a stored session; DataKeyError (naming the session) when one does not open."""
    response = row.response_text
    return SessionTexts(
        input_text=open_input(keyring, row.id, row.key_id, row.input_text),
        response_text=None
        if response is None
        else _opened(keyring, row.id, row.key_id, "response_text", response).decode(),
        context=orjson.loads(_opened(keyring, row.id, row.key_id, "context", row.context)),
    )


def open_input(keyring: Keyring, session_id: uuid.UUID, key_id: str | None, sealed: bytes) -> str:
    """A stored session's (redacted) input alone, from its `input_text` column."""
    return _opened(keyring, session_id, key_id, "input_text", sealed).decode()


def _opened(
    keyring: Keyring, session_id: uuid.UUID, key_id: str | None, column: str, value: bytes
) -> bytes:
    if key_id is None:  # written before encryption at rest
        return value
    try:
        return keyring.open(key_id, value, _associated_data(session_id, column))
    except DataKeyError as exc:
        raise DataKeyError(f"session {session_id}, {column}: {exc}") from None


def _not_current(keyring: Keyring) -> Any:
    key_id = _SESSIONS.c.key_id
    return or_(key_id.is_(None), key_id != keyring.current_id)


async def count_to_rotate(session: AsyncSession, keyring: Keyring) -> int:
    """How many sessions are not sealed under the current key."""
    statement = select(func.count()).select_from(_SESSIONS).where(_not_current(keyring))
    return int((await session.exec(statement)).one()[0])  # type: ignore[call-overload]


_RESEAL = (
    update(_SESSIONS)
    .where(
        _SESSIONS.c.id == bindparam("session_id"),
        _SESSIONS.c.key_id.is_not_distinct_from(bindparam("old_key_id")),
    )
    .values(
        key_id=bindparam("new_key_id"),
        input_text=bindparam("new_input"),
        response_text=bindparam("new_response"),
        context=bindparam("new_context"),
    )
)


async def rotate_batch(session: AsyncSession, keyring: Keyring, limit: int) -> int:
    """Re-seal under the current key up to `limit` sessions sealed otherwise; how many.

    Each row is written only if its key id is still the one read (a compare-and-set), so
    two rotations, or a rotation beside a running server, never overwrite each other; a
    row deleted meanwhile is skipped. A row that does not open stops it (DataKeyError).
    """
    statement = (
        select(ConsciousnessSession)
        .where(_not_current(keyring))
        .order_by(_SESSIONS.c.id)
        .limit(limit)
    )
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    for (row,) in rows:
        sealed = seal_texts(keyring, row.id, open_texts(keyring, row))
        await session.exec(
            _RESEAL,
            params={
                "session_id": row.id,
                "old_key_id": row.key_id,
                "new_key_id": sealed.key_id,
                "new_input": sealed.input_text,
                "new_response": sealed.response_text,
                "new_context": sealed.context,
            },
        )
    return len(rows)
