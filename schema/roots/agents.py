"""Root fields of agent management (filled in by the agents work)."""

from __future__ import annotations

import strawberry


@strawberry.type
class Query:
    pass


@strawberry.type
class Mutation:
    pass
