"""Reads of an agent's consciousness: its current state and its stored sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import engine
from core.errors import BadUserInput
from db.models import ConsciousnessSession as SessionRow
from db.repositories import sessions as stored_sessions
from db.repositories.session_texts import SessionTexts, open_texts
from resolvers.agents import load_visible_agent
from resolvers.context import Info
from resolvers.engine_inputs import stored_state
from resolvers.pagination import Page, build_page, page_size
from resolvers.responders import OBSERVED


@dataclass(frozen=True)
class StoredSession:
    """A stored session with its texts opened (they are encrypted at rest)."""

    row: SessionRow
    texts: SessionTexts

    @property
    def evaluation(self) -> GenAIEvaluation | None:
        """The verdict on an observed call (an OTLP span), shaped as OpenTelemetry's
        `gen_ai.evaluation.result` event; None for a session of `process`."""
        responder = self.row.processing_metrics.get("responder") or {}
        if responder.get("name") != OBSERVED:
            return None
        stored = self.row.ethical_evaluation
        parts = [stored, *([stored["response"]] if stored.get("response") else [])]
        label = max((p.get("decision", "ANSWERED") for p in parts), key=_DECISIONS.index)
        reasons = [reason for p in parts for reason in p.get("block_reasons", ())]
        categories = dict.fromkeys(v["category"] for p in parts for v in p.get("violations", ()))
        explanation = "; ".join(reasons) or (
            f"violations: {', '.join(categories)}" if categories else "no violations"
        )
        return GenAIEvaluation(
            name=EVALUATION_NAME,
            score_value=min(float(p.get("overall_score", 1.0)) for p in parts),
            score_label=label.lower(),
            explanation=explanation,
            trace_id=str(self.texts.context.get("trace_id", "")),
            span_id=str(self.texts.context.get("span_id", "")),
        )


EVALUATION_NAME = "consciousness.ethics"
_DECISIONS = ("ANSWERED", "FLAGGED", "REFUSED")  # engine.Decision, from best to worst


@dataclass(frozen=True)
class GenAIEvaluation:
    """The attributes of a `gen_ai.evaluation.result` event for one observed call: the ethics
    stage's verdict over its input and its output together.

    `score_value` is the lower of the two overall ethical scores (0 to 1, 1 = no concern);
    `score_label` the worse decision (answered, flagged, refused); `explanation` the block
    reasons, else the violation categories found.
    """

    name: str
    score_value: float
    score_label: str
    explanation: str
    trace_id: str
    span_id: str


async def consciousness_state(info: Info, agent_id: uuid.UUID) -> engine.AgentState | None:
    """The agent's state; None before its first session."""
    agent = await load_visible_agent(info.context, agent_id)
    return stored_state(agent.consciousness_state)


async def consciousness_sessions(
    info: Info, agent_id: uuid.UUID, first: int, after: str | None
) -> Page[StoredSession]:
    """The agent's sessions, newest first, keyset-paginated on (created_at, id).

    A session whose texts do not open (a data key missing from the keyring, or an altered
    row) fails the whole read: DataKeyError, an INTERNAL error naming nothing to the client.
    """
    limit = page_size(first)
    agent = await load_visible_agent(info.context, agent_id)
    codec = info.context.app.cursors
    kind = f"sessions:{agent.id}"
    key: tuple[datetime, uuid.UUID] | None = None
    if after is not None:
        try:
            raw_time, raw_id = codec.decode(kind, after)
            key = (datetime.fromisoformat(raw_time), uuid.UUID(raw_id))
        except (TypeError, ValueError):
            raise BadUserInput("malformed cursor", field="after") from None
    async with info.context.stores.database.read() as session:
        rows, total = await stored_sessions.list_sessions(
            session, agent.id, after=key, limit=limit + 1
        )
    keyring = info.context.app.keyring
    return build_page(
        [StoredSession(row, open_texts(keyring, row)) for row in rows],
        first=limit,
        total_count=total,
        has_previous_page=after is not None,
        cursor_of=lambda stored: codec.encode(
            kind, [stored.row.created_at.isoformat(), str(stored.row.id)]
        ),
    )
