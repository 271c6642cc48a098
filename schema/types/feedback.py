"""Feedback on past ethics decisions (resolvers/feedback.py), as GraphQL types."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from resolvers.feedback import FeedbackChange, FeedbackDraft
from schema.types.agents import Agent
from schema.types.evaluations import FeedbackKind


@strawberry.input(description="A mark on a stored session's ethics decision.")
class EthicsFeedbackInput:
    session_id: uuid.UUID = strawberry.field(description="A session of an agent you own.")
    kind: FeedbackKind
    category: str | None = strawberry.field(
        default=None,
        description="FALSE_NEGATIVE only: the hazard category (S1…S14) it should have got.",
    )
    note: str | None = strawberry.field(default=None, description="Up to 500 characters.")

    def to_draft(self) -> FeedbackDraft:
        return FeedbackDraft(
            session_id=self.session_id,
            kind=self.kind.value,
            category=self.category,
            note=self.note,
        )


@strawberry.type(description="An owner's mark on a session's ethics decision.")
class EthicsFeedback:
    id: uuid.UUID
    agent_id: uuid.UUID
    session_id: uuid.UUID
    kind: FeedbackKind
    category: str | None
    note: str | None
    created_at: datetime
    active: bool = strawberry.field(
        description="Whether the agent's evaluations apply it now (undo and rollback change it)."
    )


@strawberry.type(description="A mark and the agent version its change created.")
class EthicsFeedbackPayload:
    feedback: EthicsFeedback
    agent: Agent

    @classmethod
    def from_record(cls, change: FeedbackChange) -> EthicsFeedbackPayload:
        mark = change.mark
        return cls(
            feedback=EthicsFeedback(
                id=mark.id,
                agent_id=mark.agent_id,
                session_id=mark.session_id,
                kind=FeedbackKind(mark.kind),
                category=mark.category,
                note=mark.note,
                created_at=mark.created_at,
                active=change.active,
            ),
            agent=Agent.from_row(change.agent),
        )
