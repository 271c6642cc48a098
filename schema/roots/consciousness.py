"""Root fields of the consciousness engine."""

from __future__ import annotations

import strawberry

import engine
from auth.permissions import Permission
from resolvers import consciousness
from schema.permissions import rate_limited
from schema.types.consciousness import (
    AnalysisInput,
    EthicalEvaluation,
    MetaCognition,
    SelfAwareness,
)
from server.context import Info

EVALUATE = Permission.CONSCIOUSNESS_READ


@strawberry.type
class Query:
    @strawberry.field(
        description="Confidence, limitations and decision for a text; not stored. Rate-limited.",
        extensions=rate_limited(EVALUATE),
        graphql_type=SelfAwareness,
    )
    async def self_awareness(self, info: Info, input: AnalysisInput) -> engine.SelfAwarenessResult:
        return await consciousness.self_awareness(info, input)

    @strawberry.field(
        description="Violations and framework scores for a text; not stored. Rate-limited.",
        extensions=rate_limited(EVALUATE),
        graphql_type=EthicalEvaluation,
    )
    async def ethical_evaluation(self, info: Info, input: AnalysisInput) -> engine.EthicsResult:
        return await consciousness.ethical_evaluation(info, input)

    @strawberry.field(
        description="Cognitive load, bias markers and reflective passes; not stored. Rate-limited.",
        extensions=rate_limited(EVALUATE),
        graphql_type=MetaCognition,
    )
    async def meta_cognition(self, info: Info, input: AnalysisInput) -> engine.MetacognitionResult:
        return await consciousness.meta_cognition(info, input)
