"""The audit log: append-only rows of security-relevant events, newest first when listed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AuditLog


class AuditAction(StrEnum):
    REGISTER = "register"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    REFRESH = "refresh"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    LOGOUT = "logout"
    ROLES_CHANGED = "roles_changed"
    TIER_CHANGED = "tier_changed"
    USER_DEACTIVATED = "user_deactivated"
    ETHICS_FEEDBACK_MARKED = "ethics_feedback_marked"
    ETHICS_FEEDBACK_UNDONE = "ethics_feedback_undone"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    AUTH_ANOMALY = "auth_anomaly"  # details.kind says which (resolvers/anomalies.py)


async def record(
    session: AsyncSession,
    action: AuditAction,
    *,
    user_id: uuid.UUID | None,
    ip_address: str | None,
    user_agent: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            user_id=user_id,
            action=action.value,
            ip_address=ip_address,
            user_agent=(user_agent or "")[:512] or None,
            details=details or {},
        )
    )


async def list_entries(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    action: AuditAction | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[AuditLog], int]:
    """One page of entries (newest first, keyset on created_at, id) and the total count."""
    conditions = []
    if user_id is not None:
        conditions.append(col(AuditLog.user_id) == user_id)
    if action is not None:
        conditions.append(col(AuditLog.action) == action.value)
    total = (
        await session.exec(select(func.count()).select_from(AuditLog).where(*conditions))
    ).one()
    query = select(AuditLog).where(*conditions)
    if after is not None:
        created_at, entry_id = after
        query = query.where(
            or_(
                col(AuditLog.created_at) < created_at,
                and_(col(AuditLog.created_at) == created_at, col(AuditLog.id) < entry_id),
            )
        )
    query = query.order_by(col(AuditLog.created_at).desc(), col(AuditLog.id).desc()).limit(limit)
    return list((await session.exec(query)).all()), total
