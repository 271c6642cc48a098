"""Reads and writes of users."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.enums import Role, Tier
from core.errors import Conflict
from db.models import User
from db.types import utcnow


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    email: str,
    password_hash: str,
    roles: list[Role],
    tier: Tier,
    user_id: uuid.UUID | None = None,
) -> User:
    """Insert a user; CONFLICT when the username or email is taken (compared case-insensitively)."""
    taken = await session.exec(
        select(User.id).where(
            or_(col(User.username) == username.lower(), col(User.email) == email.lower())
        )
    )
    if taken.first() is not None:
        raise Conflict("username or email already registered")
    user = User(
        id=user_id or uuid.uuid4(),
        username=username.lower(),
        email=email.lower(),
        password_hash=password_hash,
        roles=[role.value for role in roles],
        tier=tier.value,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("username or email already registered") from None
    return user


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.exec(select(User).where(col(User.username) == username.lower()))
    return result.first()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def list_users(
    session: AsyncSession, *, after_username: str | None, limit: int
) -> tuple[list[User], int]:
    """One page of users ordered by username (unique, so a stable keyset), and the total."""
    total = (await session.exec(select(func.count()).select_from(User))).one()
    query = select(User)
    if after_username is not None:
        query = query.where(col(User.username) > after_username)
    rows = await session.exec(query.order_by(col(User.username)).limit(limit))
    return list(rows.all()), total


async def save_user(session: AsyncSession, user: User) -> User:
    """Write changed fields and stamp updated_at."""
    user.updated_at = utcnow()
    session.add(user)
    await session.flush()
    return user
