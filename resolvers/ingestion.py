"""OTLP trace ingestion: GenAI spans queued on arrival, analysed as `process` would later.

The transport (server/otlp.py) decodes the request and authenticates its API key. Here,
`enqueue_spans` sorts its spans, quickly and without the engine: a span without GenAI
attributes is ignored (and counted); a GenAI span (resolvers/observed_calls.py) is
rejected with its reason when it has no input text or its agent cannot take it (the
agent is found by name among the key owner's agents, or created ACTIVE; a PAUSED,
INACTIVE or ERROR one cannot). The calls left are written to the ingestion queue in one
transaction, sealed (they hold raw prompts), before the request is answered: nothing
acknowledged is lost, whatever happens to this process afterwards. OTLP calls an answer
with rejections a partial success.

The queue is bounded: when INGEST_QUEUE_MAX_SPANS calls already wait, a request is answered
RATE_LIMITED (429 with Retry-After, OTLP's retryable answer) and writes nothing, so a
burst waits in the senders' exporters and not in this server. Concurrent requests may
pass the bound by one request's calls each. Each GenAI span is also one consciousness
operation of the key owner's tier (BASIC 100 an hour, ADVANCED 1,000, ENTERPRISE
unlimited, shared with their `process` calls), counted for the whole request before
anything is written: without it one user
could fill the shared queue and keep everyone else's spans waiting.

The worker's side, analysing the queue in batches with one transaction each, is
resolvers/ingest_batches.py.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from auth.permissions import Principal
from core.enums import AgentStatus, AgentType
from core.errors import (
    BadUserInput,
    Conflict,
    RateLimited,
)
from db.repositories import agents, ingest_queue
from resolvers.agents import AgentDraft, create_agent_for
from resolvers.context import Context
from resolvers.observed_calls import ReceivedSpan, SpanRejected, observed_call

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
MAX_REASONS_REPORTED = 5  # the partial-success message names the first few rejections


@dataclass
class IngestReport:
    """What became of a request's spans; `reasons` are the rejected spans' first reasons."""

    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS_REPORTED:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        """The partial-success message: why spans were rejected, how many were ignored."""
        notes = list(self.reasons)
        if self.rejected > len(self.reasons):
            notes.append(f"{self.rejected - len(self.reasons)} more rejected")
        if self.ignored:
            notes.append(f"{self.ignored} spans without gen_ai attributes were ignored")
        return "; ".join(notes)


async def enqueue_spans(
    context: Context, principal: Principal, spans: Sequence[ReceivedSpan]
) -> IngestReport:
    """Queue every GenAI span of `spans` that can be taken (module docstring)."""
    report = IngestReport()
    genai = [span for span in spans if span.is_genai]
    report.ignored = len(spans) - len(genai)
    if not genai:
        return report
    await _check_capacity(context, len(genai))  # before any write, agents included
    await _spend_tier(context, principal, len(genai))
    agent_ids: dict[str, uuid.UUID | str] = {}  # by name: the agent, or why it cannot take
    queued: list[dict[str, object]] = []
    for span in genai:
        try:
            call = observed_call(span, context.settings.max_input_chars)
        except SpanRejected as rejected:
            report.reject(str(rejected))
            continue
        if call.agent_name not in agent_ids:
            agent_ids[call.agent_name] = await _agent_for(context, principal, call.agent_name)
        agent = agent_ids[call.agent_name]
        if isinstance(agent, str):
            report.reject(f"span {span.span_id}: {agent}")
            continue
        queued.append({"agent_id": str(agent), "call": call.to_json()})
    if not queued:
        return report
    async with context.stores.database.session() as session:
        user_id = uuid.UUID(principal.user_id)
        payload = orjson.dumps(queued)
        await ingest_queue.enqueue(session, context.app.keyring, user_id, len(queued), payload)
    report.accepted = len(queued)
    return report


async def _spend_tier(context: Context, principal: Principal, spans: int) -> None:
    """Count `spans` operations against the key owner's tier, the budget `process` calls
    spend too; RATE_LIMITED, counting nothing, when the hour has no room for all of them."""
    limiter = context.app.rate_limiter
    decision = await limiter.hit_tier(principal.user_id, principal.tier, spans)
    if not decision.allowed:
        raise RateLimited(
            f"the {principal.tier.value} tier allows {decision.limit} consciousness operations"
            f" per hour (one per GenAI span); {decision.remaining} left, {spans} sent",
            retry_after=decision.retry_after_seconds,
        )


async def _check_capacity(context: Context, spans: int) -> None:
    """RATE_LIMITED when `spans` more would pass INGEST_QUEUE_MAX_SPANS (an empty queue
    takes any request: OTLP_MAX_SPANS_PER_REQUEST bounds it)."""
    async with context.stores.database.read() as session:
        waiting = await ingest_queue.queued_spans(session)
    if waiting and waiting + spans > context.settings.ingest_queue_max_spans:
        raise RateLimited(
            f"{waiting} spans wait for analysis: retry later", retry_after=RETRY_AFTER_SECONDS
        )


async def _agent_for(context: Context, principal: Principal, name: str) -> uuid.UUID | str:
    """The id of the owner's agent called `name`, created ACTIVE if there is none; a string
    saying why when the agent exists but is not ACTIVE."""
    owner_id = uuid.UUID(principal.user_id)
    async with context.stores.database.read() as session:
        agent = await agents.agent_named(session, owner_id, name)
    if agent is None:
        draft = AgentDraft(
            name=name,
            agent_type=AgentType.GENERAL,
            description="Created by OTLP ingestion from the GenAI spans it named.",
        )
        try:
            agent = await create_agent_for(context, owner_id, draft, AgentStatus.ACTIVE)
        except Conflict:  # another request created it meanwhile
            async with context.stores.database.read() as session:
                agent = await agents.agent_named(session, owner_id, name)
        except BadUserInput as error:
            return f"agent name {name!r}: {error.message}"
    if agent is None:
        return f"agent {name!r} could not be created"
    status = AgentStatus(agent.status)
    if status is not AgentStatus.ACTIVE:
        return f"agent {name!r} is {status.name}; only an ACTIVE agent takes spans"
    return uuid.UUID(str(agent.id))  # asyncpg's own UUID type does not serialise to JSON
