"""Semantic search over stored sessions and an agent's drift (resolvers/similar_sessions.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.pagination import Page
from resolvers.similar_sessions import AgentDrift, ScoredSession, SimilarityFilter
from schema.types.consciousness import SessionRecord
from schema.types.evaluations import Decision
from schema.types.pagination import PageInfo, page_info


@strawberry.input(description="Narrows similarSessions; every given condition must hold.")
class SimilarSessionsFilter:
    decision: Decision | None = strawberry.field(
        default=None, description="Only sessions the engine decided this way."
    )
    categories: list[str] | None = strawberry.field(
        default=None,
        description="Only sessions with a violation of at least one of these categories "
        "(e.g. PII); at most 20.",
    )
    since: datetime | None = strawberry.field(
        default=None, description="Only sessions stored at or after this time."
    )

    def narrowing(self) -> SimilarityFilter:
        return SimilarityFilter(
            decision=None if self.decision is None else self.decision.value,
            categories=tuple(self.categories or ()),
            since=self.since,
        )


@strawberry.type(description="A stored session and how close its input is to the query.")
class SimilarSession:
    session: SessionRecord
    score: float = strawberry.field(
        description="Cosine similarity of the session's (redacted) input to the query's "
        "embedding, -1 to 1 (1: the same direction); WordLlama static embeddings."
    )


@strawberry.type
class SimilarSessionEdge:
    node: SimilarSession
    cursor: str


@strawberry.type(description="Nearest sessions first; `after` pages deeper, up to 1000.")
class SimilarSessionConnection:
    edges: list[SimilarSessionEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[ScoredSession]) -> SimilarSessionConnection:
        edges = [
            SimilarSessionEdge(
                node=SimilarSession(
                    session=SessionRecord.from_stored(scored.session), score=scored.score
                ),
                cursor=str(cursor),
            )
            for cursor, scored in page.edges
        ]
        return cls(edges=edges, page_info=page_info(page))


@strawberry.type(
    name="AgentDrift",
    description="How close an agent's newest inputs are to its earlier ones. Method: each "
    "of the `recentSessions` newest embedded inputs is compared (cosine) with the "
    "normalised mean of the up to 500 embedded inputs before them; `similarity` is the "
    "mean of those cosines.",
)
class AgentDriftResult:
    similarity: float | None = strawberry.field(
        description="-1 to 1; 1: the recent inputs point where the earlier ones did, lower: "
        "drifting away. Null until there are both recent and earlier embedded sessions."
    )
    recent_sessions: int = strawberry.field(description="Recent inputs compared.")
    earlier_sessions: int = strawberry.field(description="Earlier inputs in the baseline.")

    @classmethod
    def of(cls, drift: AgentDrift) -> AgentDriftResult:
        return cls(
            similarity=drift.similarity,
            recent_sessions=drift.recent_sessions,
            earlier_sessions=drift.earlier_sessions,
        )
