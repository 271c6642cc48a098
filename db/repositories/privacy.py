"""Everything the relational store holds about one user: read it all, or erase it all (GDPR).

"About the user" means: their user row; their ingestion keys, alert rules and report
schedules (cascading with the user); the agents they own, with every version and every
session of those agents; the sessions they ran on any agent; the versions they wrote of
any agent; the ethics feedback on their agents; and the audit rows about them. Every query
is built by SQLAlchemy with bound parameters.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.crypto import Keyring
from db.models import (
    Agent,
    AgentVersion,
    AlertRule,
    ApiKey,
    AuditLog,
    ConsciousnessSession,
    EthicsFeedback,
    ReportSchedule,
    User,
)
from db.repositories.session_texts import open_texts

EXCLUDED_USER_FIELDS = frozenset({"password_hash"})
EXCLUDED_API_KEY_FIELDS = frozenset({"key_hash"})
EXCLUDED_SIGNING_FIELDS = frozenset({"secret", "secret_key_id"})  # rules and reports
"""Kept out of the export: a password hash is a secret, and gives the user nothing."""


SEALED_SESSION_FIELDS = frozenset({"input_text", "response_text", "context", "key_id"})
"""Exported opened instead: the user gets their texts, not ciphertext and a key id."""


def _row(model: SQLModel, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=set(exclude))


def _session(row: ConsciousnessSession, keyring: Keyring) -> dict[str, Any]:
    texts = open_texts(keyring, row)
    return {
        **_row(row, SEALED_SESSION_FIELDS),
        "input_text": texts.input_text,
        "response_text": texts.response_text,
        "context": texts.context,
    }


async def collect(
    session: AsyncSession, user_id: uuid.UUID, keyring: Keyring
) -> dict[str, Any] | None:
    """Every row about the user as JSON-ready dicts, by table, session texts opened with
    `keyring`; None when there is no user."""
    user = await session.get(User, user_id)
    if user is None:
        return None
    agents = list(
        (
            await session.exec(
                select(Agent).where(col(Agent.owner_id) == user_id).order_by(col(Agent.created_at))
            )
        ).all()
    )
    agent_ids = [agent.id for agent in agents]
    versions = (
        await session.exec(
            select(AgentVersion)
            .where(
                or_(
                    col(AgentVersion.agent_id).in_(agent_ids),
                    col(AgentVersion.changed_by) == user_id,
                )
            )
            .order_by(col(AgentVersion.agent_id), col(AgentVersion.version))
        )
    ).all()
    sessions = (
        await session.exec(
            select(ConsciousnessSession)
            .where(
                or_(
                    col(ConsciousnessSession.user_id) == user_id,
                    col(ConsciousnessSession.agent_id).in_(agent_ids),
                )
            )
            .order_by(col(ConsciousnessSession.created_at), col(ConsciousnessSession.id))
        )
    ).all()
    feedback = (
        await session.exec(
            select(EthicsFeedback)
            .where(col(EthicsFeedback.agent_id).in_(agent_ids))
            .order_by(col(EthicsFeedback.created_at), col(EthicsFeedback.id))
        )
    ).all()
    audit = (
        await session.exec(
            select(AuditLog)
            .where(col(AuditLog.user_id) == user_id)
            .order_by(col(AuditLog.created_at), col(AuditLog.id))
        )
    ).all()
    keys = (
        await session.exec(
            select(ApiKey).where(col(ApiKey.user_id) == user_id).order_by(col(ApiKey.created_at))
        )
    ).all()
    rules = (
        await session.exec(
            select(AlertRule)
            .where(col(AlertRule.owner_id) == user_id)
            .order_by(col(AlertRule.created_at))
        )
    ).all()
    schedules = (
        await session.exec(
            select(ReportSchedule)
            .where(col(ReportSchedule.owner_id) == user_id)
            .order_by(col(ReportSchedule.created_at))
        )
    ).all()
    return {
        "user": _row(user, EXCLUDED_USER_FIELDS),
        "api_keys": [_row(key, EXCLUDED_API_KEY_FIELDS) for key in keys],
        "alert_rules": [_row(rule, EXCLUDED_SIGNING_FIELDS) for rule in rules],
        "report_schedules": [_row(row, EXCLUDED_SIGNING_FIELDS) for row in schedules],
        "agents": [_row(agent) for agent in agents],
        "agent_versions": [_row(version) for version in versions],
        "consciousness_sessions": [_session(row, keyring) for row in sessions],
        "ethics_feedback": [_row(row) for row in feedback],
        "audit_log": [_row(row) for row in audit],
    }


async def owned_agent_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.exec(select(Agent.id).where(col(Agent.owner_id) == user_id))
    return list(rows.all())


async def erase(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Delete every row about the user (see the module docstring); False when there is none.

    Explicit deletes, children first, rather than relying on ON DELETE CASCADE: the audit
    rows would otherwise survive with a NULL user (ON DELETE SET NULL) and still hold the
    IP addresses and user agents of the account's sign-ins. Versions the user wrote of
    someone else's agent (an admin's edit) stay, as that agent's history, with `changed_by`
    cleared, and their snapshots hold only that agent's data.
    """
    if await session.get(User, user_id) is None:
        return False
    agent_ids = await owned_agent_ids(session, user_id)
    await session.exec(delete(EthicsFeedback).where(col(EthicsFeedback.agent_id).in_(agent_ids)))
    await session.exec(
        delete(ConsciousnessSession).where(
            or_(
                col(ConsciousnessSession.user_id) == user_id,
                col(ConsciousnessSession.agent_id).in_(agent_ids),
            )
        )
    )
    await session.exec(delete(AgentVersion).where(col(AgentVersion.agent_id).in_(agent_ids)))
    await session.exec(
        update(AgentVersion).where(col(AgentVersion.changed_by) == user_id).values(changed_by=None)
    )
    await session.exec(delete(Agent).where(col(Agent.owner_id) == user_id))
    await session.exec(delete(AuditLog).where(col(AuditLog.user_id) == user_id))
    await session.exec(delete(User).where(col(User.id) == user_id))
    return True
