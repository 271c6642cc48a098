"""Feedback on past ethics decisions: an agent's owner marks a stored session's decision as a
false positive or a false negative, or undoes a mark; later evaluations of that agent apply
its active marks (engine.ethics.feedback).

A mark or an undo is a new version of the agent (its `ethicsFeedback` list changes), written
with the mark and its audit entry in one transaction, so the history shows it and
`rollbackAgent` restores the marks of the version it returns to. Only the agent's owner may
mark: anyone else gets NOT_FOUND for a session they cannot see, and FORBIDDEN when they can
see it (agents:admin) but do not own it. Bad input is BAD_USER_INPUT and writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

import engine
from auth.permissions import Permission, Principal
from core.errors import BadUserInput, Conflict, Forbidden, NotFound
from core.events import AgentEventKind
from db.models import Agent as AgentRow
from db.models import EthicsFeedback as FeedbackRow
from db.repositories import feedback as marks
from db.repositories.audit import AuditAction
from resolvers.agent_versions import change_agent
from resolvers.audit import record_in
from resolvers.context import Context, Info

MAX_NOTE_CHARS = 500


@dataclass(frozen=True)
class FeedbackDraft:
    """A mark as the owner sends it (the fields of GraphQL's EthicsFeedbackInput)."""

    session_id: uuid.UUID
    kind: engine.FeedbackKind
    category: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class FeedbackChange:
    """A mark and the agent version it left, with whether the mark applies now."""

    mark: FeedbackRow
    agent: AgentRow

    @property
    def active(self) -> bool:
        return str(self.mark.id) in self.agent.ethics_feedback


async def active_feedback(context: Context, feedback_ids: list[str]) -> tuple[engine.Feedback, ...]:
    """An agent's active marks as the engine applies them (none: no query)."""
    if not feedback_ids:
        return ()  # most agents have none: no connection either
    async with context.stores.database.session() as session:
        return await marks.engine_feedback(session, feedback_ids, context.app.keyring)


def _check_draft(draft: FeedbackDraft) -> str | None:
    """The draft's category (None for a false positive) and note, or BAD_USER_INPUT."""
    if draft.note is not None and len(draft.note) > MAX_NOTE_CHARS:
        raise BadUserInput(f"note is longer than {MAX_NOTE_CHARS} characters", field="note")
    if draft.kind == engine.FALSE_POSITIVE:
        if draft.category is not None:
            raise BadUserInput("category is only for a false negative", field="category")
        return None
    if draft.category not in engine.HAZARD_CATEGORIES:
        known = ", ".join(engine.HAZARD_CATEGORIES)
        raise BadUserInput(
            f"a false negative needs the hazard category it should have got: one of {known}",
            field="category",
        )
    return draft.category


def _require_owner(principal: Principal, owner_id: uuid.UUID, what: str) -> None:
    """NOT_FOUND for a caller who cannot see the agent, FORBIDDEN for an admin who can."""
    if str(owner_id) == principal.user_id:
        return
    if principal.has(Permission.AGENTS_ADMIN):
        raise Forbidden(f"only the agent's owner may give feedback on its decisions ({what})")
    raise NotFound(f"no such {what}")


def _check_session(draft: FeedbackDraft, evaluation: dict[str, Any], blocked: bool) -> None:
    """A false positive needs findings to take back; a false negative, a decision not refused."""
    if draft.kind == engine.FALSE_POSITIVE and not evaluation.get("violations"):
        raise BadUserInput("the decision had no findings to mark as a false positive", field="kind")
    if draft.kind == engine.FALSE_NEGATIVE and blocked:
        raise BadUserInput("the decision was already a refusal", field="kind")


async def mark_feedback(info: Info, draft: FeedbackDraft) -> FeedbackChange:
    """Mark a stored session's decision; the agent's next evaluations apply the mark."""
    context = info.context
    principal = await context.require_principal()
    category = _check_draft(draft)
    async with context.stores.database.session() as session:
        found = await marks.find_session(session, draft.session_id)
        if found is None:
            raise NotFound("no such session", field="sessionId")
        _require_owner(principal, found.owner_id, "session")
        row = found.row
        _check_session(draft, row.ethical_evaluation, row.blocked)
        agent = await session.get(AgentRow, row.agent_id)
        assert agent is not None, "a session's agent exists (foreign key)"
        active = await marks.marks(session, agent.ethics_feedback)
    if any(mark.session_id == row.id for mark in active):
        raise Conflict("this session's decision already has an active mark; undo it first")
    if len(agent.ethics_feedback) >= engine.MAX_FEEDBACK:
        raise BadUserInput(
            f"the agent already has {engine.MAX_FEEDBACK} active marks; undo one first",
            field="sessionId",
        )
    mark = FeedbackRow(
        agent_id=row.agent_id,
        session_id=row.id,
        user_id=uuid.UUID(principal.user_id),
        kind=draft.kind,
        category=category,
        note=draft.note,
    )

    async def write(session: AsyncSession, _agent: AgentRow) -> None:
        session.add(mark)
        await session.flush()  # the mark exists before the audit row names it
        action = AuditAction.ETHICS_FEEDBACK_MARKED
        await record_in(session, context, action, mark.user_id, _details(mark))

    changed = await change_agent(
        context,
        row.agent_id,
        lambda current: {"ethics_feedback": [*current.ethics_feedback, str(mark.id)]},
        AgentEventKind.UPDATED,
        scope=None,
        changed_by=mark.user_id,
        expected_version=agent.version,
        notes={"feedbackMarked": str(mark.id)},
        also=write,
    )
    return FeedbackChange(mark, changed)


async def undo_feedback(info: Info, feedback_id: uuid.UUID) -> FeedbackChange:
    """Take a mark back: a new agent version without it (the mark itself stays recorded)."""
    context = info.context
    principal = await context.require_principal()
    async with context.stores.database.session() as session:
        found = await marks.find_feedback(session, feedback_id)
        if found is None:
            raise NotFound("no such feedback", field="id")
        mark, owner_id = found
        _require_owner(principal, owner_id, "feedback")
        agent = await session.get(AgentRow, mark.agent_id)
        assert agent is not None, "a mark's agent exists (foreign key)"
    if str(mark.id) not in agent.ethics_feedback:
        raise BadUserInput("this feedback is not active (already undone)", field="id")
    user_id = uuid.UUID(principal.user_id)

    async def write(session: AsyncSession, _agent: AgentRow) -> None:
        action = AuditAction.ETHICS_FEEDBACK_UNDONE
        await record_in(session, context, action, user_id, _details(mark))

    changed = await change_agent(
        context,
        mark.agent_id,
        lambda current: {
            "ethics_feedback": [i for i in current.ethics_feedback if i != str(mark.id)]
        },
        AgentEventKind.UPDATED,
        scope=None,
        changed_by=user_id,
        expected_version=agent.version,
        notes={"feedbackUndone": str(mark.id)},
        also=write,
    )
    return FeedbackChange(mark, changed)


def _details(mark: FeedbackRow) -> dict[str, object]:
    return {
        "feedbackId": str(mark.id),
        "agentId": str(mark.agent_id),
        "sessionId": str(mark.session_id),
        "kind": mark.kind,
        "category": mark.category,
    }
