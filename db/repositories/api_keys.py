"""Reads and writes of ingestion API keys (db.models.ApiKey): only hashes are stored."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ApiKey, User

MAX_KEYS_LISTED = 100


async def insert_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def count_active(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many of the user's keys are not revoked."""
    statement = select(ApiKey.id).where(
        col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None)
    )
    return len((await session.exec(statement)).all())


async def list_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    """The user's keys, revoked ones included, newest first."""
    statement = (
        select(ApiKey)
        .where(col(ApiKey.user_id) == user_id)
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
        .limit(MAX_KEYS_LISTED)
    )
    return list((await session.exec(statement)).all())


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> ApiKey | None:
    """Revoke the user's key (already revoked: unchanged); None when they have no such key."""
    key = (
        await session.exec(
            select(ApiKey).where(col(ApiKey.id) == key_id, col(ApiKey.user_id) == user_id)
        )
    ).first()
    if key is not None and key.revoked_at is None:
        key.revoked_at = at
        session.add(key)
        await session.flush()
    return key


async def find_by_hashes(session: AsyncSession, hashes: list[str]) -> tuple[ApiKey, User] | None:
    """The key stored under one of `hashes` and its user, revoked or not; None if unknown."""
    statement = (
        select(ApiKey, User)
        .join(User, col(User.id) == col(ApiKey.user_id))
        .where(col(ApiKey.key_hash).in_(hashes))
    )
    row = (await session.exec(statement)).first()
    return None if row is None else (row[0], row[1])


async def touch_key(session: AsyncSession, key_id: uuid.UUID, at: datetime) -> None:
    """Record that the key was used at `at`."""
    statement = update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=at)
    await session.exec(statement)
