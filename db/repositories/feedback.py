"""Ethics feedback: owners' marks on stored sessions, and the active marks of an agent as the
engine takes them (the marked text and rules come from the session itself)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.crypto import Keyring
from db.models import Agent, ConsciousnessSession, EthicsFeedback
from db.repositories.session_texts import open_texts
from db.session import Database
from engine import Feedback, FeedbackKind


@dataclass(frozen=True)
class MarkedSession:
    """A stored session with its agent's owner: what a mark is checked against."""

    row: ConsciousnessSession
    owner_id: uuid.UUID


async def find_session(session: AsyncSession, session_id: uuid.UUID) -> MarkedSession | None:
    """The session and its agent's owner, None when there is no such session."""
    statement = (
        select(ConsciousnessSession, Agent.owner_id)
        .join(Agent, col(Agent.id) == col(ConsciousnessSession.agent_id))
        .where(col(ConsciousnessSession.id) == session_id)
    )
    found = (await session.exec(statement)).first()
    return None if found is None else MarkedSession(found[0], found[1])


async def find_feedback(
    session: AsyncSession, feedback_id: uuid.UUID
) -> tuple[EthicsFeedback, uuid.UUID] | None:
    """The mark and its agent's owner, None when there is no such mark."""
    statement = (
        select(EthicsFeedback, Agent.owner_id)
        .join(Agent, col(Agent.id) == col(EthicsFeedback.agent_id))
        .where(col(EthicsFeedback.id) == feedback_id)
    )
    found = (await session.exec(statement)).first()
    return None if found is None else (found[0], found[1])


async def marks(session: AsyncSession, feedback_ids: Sequence[str]) -> list[EthicsFeedback]:
    """The marks among `feedback_ids` that exist, in the order of `feedback_ids`."""
    if not feedback_ids:
        return []
    wanted = [uuid.UUID(i) for i in feedback_ids]
    rows = await session.exec(select(EthicsFeedback).where(col(EthicsFeedback.id).in_(wanted)))
    by_id = {row.id: row for row in rows.all()}
    return [by_id[i] for i in wanted if i in by_id]


async def engine_feedback_of(
    database: Database, feedback_ids: Sequence[str], keyring: Keyring
) -> tuple[Feedback, ...]:
    """`engine_feedback` in a read of its own, opened only for an agent with marks."""
    if not feedback_ids:
        return ()
    async with database.read() as session:
        return await engine_feedback(session, feedback_ids, keyring)


async def engine_feedback(
    session: AsyncSession, feedback_ids: Sequence[str], keyring: Keyring
) -> tuple[Feedback, ...]:
    """The active marks as the engine applies them, in the agent's order; one statement.

    A mark's text is its session's input, opened with `keyring`. A false positive carries
    the rule ids its session's decision stored; a mark whose session is gone (erased) is
    left out.
    """
    if not feedback_ids:
        return ()
    wanted = [uuid.UUID(i) for i in feedback_ids]
    statement = (
        select(EthicsFeedback, ConsciousnessSession)
        .join(ConsciousnessSession, col(ConsciousnessSession.id) == col(EthicsFeedback.session_id))
        .where(col(EthicsFeedback.id).in_(wanted))
    )
    found = {row[0].id: row for row in (await session.exec(statement)).all()}
    return tuple(
        Feedback(
            id=str(mark.id),
            kind=cast(FeedbackKind, mark.kind),
            text=open_texts(keyring, marked).input_text,
            category=mark.category,
            rule_ids=tuple(
                dict.fromkeys(v["rule_id"] for v in marked.ethical_evaluation.get("violations", ()))
            ),
        )
        for mark, marked in (found[i] for i in wanted if i in found)
    )
