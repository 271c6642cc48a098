"""Root fields of the consciousness engine."""

from __future__ import annotations

import uuid

import strawberry

import engine
from auth.permissions import Permission
from resolvers import consciousness, evaluations, feedback, sessions, similar_sessions
from resolvers.context import Info
from schema.permissions import experimental, rate_limited, requires
from schema.types.consciousness import (
    ConsciousnessResponse,
    ConsciousnessSessionConnection,
    ConsciousnessState,
    ProcessInput,
    SessionRecord,
)
from schema.types.evaluations import (
    AnalysisInput,
    EthicalAttribution,
    EthicalEvaluation,
    MetaCognition,
    SelfAwareness,
)
from schema.types.feedback import EthicsFeedbackInput, EthicsFeedbackPayload
from schema.types.pagination import connection
from schema.types.similarity import (
    AgentDriftResult,
    SimilarSessionConnection,
    SimilarSessionsFilter,
)

EVALUATE = Permission.CONSCIOUSNESS_READ
READ = Permission.CONSCIOUSNESS_READ
DEFAULT_PAGE_SIZE = 20


@strawberry.type
class Query:
    @strawberry.field(
        description="An agent's current state (sessions 0 and null averages before the first).",
        extensions=requires(READ),
    )
    async def consciousness_state(self, info: Info, agent_id: uuid.UUID) -> ConsciousnessState:
        return ConsciousnessState.from_state(await sessions.consciousness_state(info, agent_id))

    @strawberry.field(
        description="An agent's processed requests, newest first, keyset-paginated; first ≤ 100.",
        extensions=requires(READ),
    )
    async def consciousness_sessions(
        self,
        info: Info,
        agent_id: uuid.UUID,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> ConsciousnessSessionConnection:
        page = await sessions.consciousness_sessions(info, agent_id, first, after)
        return connection(page, SessionRecord.from_stored)

    @strawberry.field(
        description="The agent's stored sessions whose inputs are nearest `text`, or the "
        "input of its session `sessionId` (exactly one), best first; first ≤ 100.",
        extensions=requires(READ),
    )
    async def similar_sessions(
        self,
        info: Info,
        agent_id: uuid.UUID,
        text: str | None = None,
        session_id: uuid.UUID | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: SimilarSessionsFilter | None = None,
    ) -> SimilarSessionConnection:
        narrowing = (filter or SimilarSessionsFilter()).narrowing()
        page = await similar_sessions.similar_sessions(
            info,
            agent_id,
            text=text,
            session_id=session_id,
            first=first,
            after=after,
            narrowing=narrowing,
        )
        return SimilarSessionConnection.of(page)

    @strawberry.field(
        description="How far the agent's `window` newest inputs drift from its earlier ones.",
        extensions=requires(READ),
    )
    async def agent_drift(
        self, info: Info, agent_id: uuid.UUID, window: int = 50
    ) -> AgentDriftResult:
        return AgentDriftResult.of(await similar_sessions.agent_drift(info, agent_id, window))

    @strawberry.field(
        description="Confidence, limitations and decision for a text; not stored. Rate-limited.",
        extensions=rate_limited(EVALUATE),
        graphql_type=SelfAwareness,
    )
    async def self_awareness(self, info: Info, input: AnalysisInput) -> engine.SelfAwarenessResult:
        return await evaluations.evaluate(
            info, input.text, input.agent_id, engine.evaluate_self_awareness
        )

    @strawberry.field(
        description="Violations and framework scores for a text (with agentId: the agent's "
        "configuration and feedback marks); not stored. Rate-limited.",
        extensions=rate_limited(EVALUATE),
        graphql_type=EthicalEvaluation,
    )
    async def ethical_evaluation(self, info: Info, input: AnalysisInput) -> engine.EthicsResult:
        return await evaluations.evaluate(info, input.text, input.agent_id, engine.evaluate_ethics)

    @strawberry.field(
        description="Experimental (RESEARCH tier or consciousness:experimental): which matched "
        "spans the ethical verdict rests on, each left out in turn; not stored. Rate-limited.",
        extensions=experimental(),
        graphql_type=EthicalAttribution,
    )
    async def ethical_attribution(
        self, info: Info, input: AnalysisInput
    ) -> engine.AttributionResult:
        return await evaluations.evaluate(
            info, input.text, input.agent_id, engine.attribute_violations
        )

    @strawberry.field(
        description="Cognitive load, bias markers and reflective passes; not stored. Rate-limited.",
        extensions=rate_limited(EVALUATE),
        graphql_type=MetaCognition,
    )
    async def meta_cognition(self, info: Info, input: AnalysisInput) -> engine.MetacognitionResult:
        return await evaluations.evaluate(
            info, input.text, input.agent_id, engine.evaluate_metacognition
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Run one input through an ACTIVE agent of yours: the response, the engine's "
        "account and the agent's new state. A blocked input is ETHICAL_VIOLATION (the refused "
        "session is still recorded). Rate-limited.",
        extensions=rate_limited(Permission.CONSCIOUSNESS_PROCESS),
    )
    async def process(self, info: Info, input: ProcessInput) -> ConsciousnessResponse:
        return ConsciousnessResponse.from_record(
            await consciousness.process(info, input.to_draft())
        )

    @strawberry.mutation(
        description="Mark a stored session's ethics decision as a false positive or a false "
        "negative (with the category it should have got): a new version of the agent whose "
        "later evaluations apply the mark. The agent's owner only.",
        extensions=requires(Permission.AGENTS_WRITE),
    )
    async def mark_ethics_feedback(
        self, info: Info, input: EthicsFeedbackInput
    ) -> EthicsFeedbackPayload:
        return EthicsFeedbackPayload.from_record(
            await feedback.mark_feedback(info, input.to_draft())
        )

    @strawberry.mutation(
        description="Undo a feedback mark: a new version of the agent without it.",
        extensions=requires(Permission.AGENTS_WRITE),
    )
    async def undo_ethics_feedback(self, info: Info, id: uuid.UUID) -> EthicsFeedbackPayload:
        return EthicsFeedbackPayload.from_record(await feedback.undo_feedback(info, id))
