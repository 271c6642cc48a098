"""Audit rows written from a request: who (the given user), from where (the request), what."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from db.repositories import audit
from db.repositories.audit import AuditAction
from resolvers.context import Context


async def record_in(
    session: AsyncSession,
    context: Context,
    action: AuditAction,
    user_id: uuid.UUID | None,
    details: dict[str, object] | None = None,
) -> None:
    """Add an audit row to `session`'s transaction, stamped with the request's IP and agent."""
    await audit.record(
        session,
        action,
        user_id=user_id,
        ip_address=context.client_ip,
        user_agent=context.user_agent,
        details=details,
    )


async def record(
    context: Context,
    action: AuditAction,
    user_id: uuid.UUID | None,
    details: dict[str, object] | None = None,
) -> None:
    """Write an audit row in a transaction of its own."""
    async with context.stores.database.session() as session:
        await record_in(session, context, action, user_id, details)
