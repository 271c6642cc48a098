"""OTLP trace ingestion: the GenAI spans of a request, each analysed as `process` would.

The transport (server/otlp.py) decodes the request and authenticates its API key; here
each span is sorted: a span without GenAI attributes is ignored (and counted); a GenAI
span (resolvers/observed_calls.py) goes to its agent, found by name among the key
owner's agents or created ACTIVE, and through `process_checked`: the input side and the
response check of the engine, personal data redacted before the session is stored, its
metrics row staged in the outbox with it, the live events published. A span that cannot
be taken (no input text, the agent is not ACTIVE) is rejected with its reason; the others
are stored all the same, which OTLP calls a partial success. A blocked input is stored as
a refused session, as `process` stores it, and counts as accepted.

Ingestion admits at most MAX_SPANS_IN_FLIGHT spans at a time per process: a request that
would go over is answered RATE_LIMITED (429 with Retry-After, OTLP's retryable answer) and
changes nothing, so a burst queues in the senders' exporters instead of in this server's
memory. A request is answered once its spans are stored, so nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from auth.permissions import Principal
from core.enums import AgentStatus, AgentType
from core.errors import ApiError, BadUserInput, Conflict, EthicalViolation, RateLimited
from db.repositories import agents
from resolvers.agents import AgentDraft, create_agent_for
from resolvers.consciousness import process_checked
from resolvers.context import Context
from resolvers.observed_calls import ReceivedSpan, SpanRejected, observed_call

log = logging.getLogger(__name__)

MAX_SPANS_IN_FLIGHT = 2_000
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


class Admission:
    """How many spans are being ingested in this process, bounded (module docstring)."""

    def __init__(self, capacity: int = MAX_SPANS_IN_FLIGHT) -> None:
        self.capacity = capacity
        self.in_flight = 0

    def admit(self, spans: int) -> None:
        """Count `spans` in, or RATE_LIMITED when that would pass the capacity."""
        if self.in_flight and self.in_flight + spans > self.capacity:
            raise RateLimited(
                "the server is busy ingesting: retry later", retry_after=RETRY_AFTER_SECONDS
            )
        self.in_flight += spans

    def release(self, spans: int) -> None:
        self.in_flight -= spans


ADMISSION = Admission()


async def ingest_spans(
    context: Context, principal: Principal, spans: Sequence[ReceivedSpan]
) -> IngestReport:
    """Store every GenAI span of `spans` as a session of its agent (module docstring)."""
    report = IngestReport()
    genai = [span for span in spans if span.is_genai]
    report.ignored = len(spans) - len(genai)
    ADMISSION.admit(len(genai))
    try:
        agent_ids: dict[str, uuid.UUID | str] = {}  # by name: the agent, or why it cannot take
        for span in genai:
            await _ingest_one(context, principal, span, agent_ids, report)
    finally:
        ADMISSION.release(len(genai))
    return report


async def _ingest_one(
    context: Context,
    principal: Principal,
    span: ReceivedSpan,
    agent_ids: dict[str, uuid.UUID | str],
    report: IngestReport,
) -> None:
    try:
        call = observed_call(span, context.settings.max_input_chars)
    except SpanRejected as rejected:
        report.reject(str(rejected))
        return
    if call.agent_name not in agent_ids:
        agent_ids[call.agent_name] = await _agent_for(context, principal, call.agent_name)
    agent = agent_ids[call.agent_name]
    if isinstance(agent, str):
        report.reject(f"span {span.span_id}: {agent}")
        return
    try:
        await process_checked(
            context, principal, agent, call.input_text, call.request_context(), call=call
        )
    except EthicalViolation:
        pass  # stored as a refused session, like `process`
    except ApiError as error:
        report.reject(f"span {span.span_id}: {error.message}")
        return
    except Exception:
        log.exception("span %s of trace %s could not be analysed", span.span_id, span.trace_id)
        report.reject(f"span {span.span_id}: the analysis failed")
        return
    report.accepted += 1


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
