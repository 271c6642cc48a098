"""Agent statistics kept between analytics inserts, so listings do not query ClickHouse each time.

An agent's stats change only when metrics rows are inserted. This process's rows arrive
through its metrics writer, whose count of inserted rows is the cache's generation: any
insert here empties it. Rows other processes insert are seen at the latest `max_age_seconds`
(ANALYTICS_FLUSH_INTERVAL_SECONDS) after the entry was read, which is how far behind a
writer's buffer stats already were. A listing of 20 agents with their stats measured 1.6x
the requests per CPU-second with the cache (bench/profile_operation.py agents --servers):
the ClickHouse query was the largest single cost of the page.

One query at a time per agent: a caller that misses an entry another caller is querying
now (in the same generation) waits for that query instead of sending its own. Without
that, every listing in flight when entries expired queried at once; on embedded chDB, whose
calls run one at a time, the queue outlasted the entries' maximum age, so what they stored
was already stale and under load nearly every listing queried (1,891 of 2,000 at 50
concurrent requests, bench/profile_operation.py agents --servers --concurrency 50).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.lru import LRU
from db.analytics_queries import AgentStats

MAX_AGENTS = 50_000  # entries kept, least recently used dropped first

Fetched = Mapping[uuid.UUID, AgentStats]
# What a query in flight ends with: the stats it found (an agent without rows is absent),
# the error the analytics store gave, or None when it was abandoned (its caller cancelled).
Outcome = Fetched | Exception | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A caller's share of a lookup's misses: what queries in flight answer (by agent), and
    what the caller queries itself, whose outcome it sets on `future`."""

    waiting: dict[uuid.UUID, asyncio.Future[Outcome]]
    claimed: list[uuid.UUID]
    future: asyncio.Future[Outcome]


@dataclass(frozen=True, slots=True)
class _Entry:
    stats: AgentStats | None  # None: the agent had no metrics rows
    read_at: float


class AgentStatsCache:
    """Per-agent stats with the generation and time they were read at (module docstring)."""

    def __init__(self, max_age_seconds: float, max_agents: int = MAX_AGENTS) -> None:
        self._max_age_seconds = max_age_seconds
        self._entries: LRU[uuid.UUID, _Entry] = LRU(max_agents)
        self._generation = 0  # every entry was read in it: an insert since empties the cache
        # Agents being queried now: the query's generation and the future of its outcome.
        self._pending: dict[uuid.UUID, tuple[int, asyncio.Future[Outcome]]] = {}

    def lookup(
        self, agent_ids: Iterable[uuid.UUID], generation: int
    ) -> tuple[dict[uuid.UUID, AgentStats | None], list[uuid.UUID]]:
        """The current entries of `agent_ids` (None: no rows), and the ids to query."""
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        oldest = time.monotonic() - self._max_age_seconds
        found: dict[uuid.UUID, AgentStats | None] = {}
        missing: list[uuid.UUID] = []
        for agent_id in agent_ids:
            entry = self._entries.get(agent_id)
            if entry is None or entry.read_at < oldest:
                missing.append(agent_id)
                continue
            found[agent_id] = entry.stats
        return found, missing

    def store(
        self,
        queried: Iterable[uuid.UUID],
        found: Mapping[uuid.UUID, AgentStats],
        generation: int,
        read_at: float,
    ) -> None:
        """Remember what one query for `queried` returned, read at `read_at` (monotonic,
        taken before the query) in `generation`; nothing when rows were inserted since."""
        if generation != self._generation:
            return
        for agent_id in queried:
            self._entries.put(agent_id, _Entry(found.get(agent_id), read_at))

    def claim(self, agent_ids: Iterable[uuid.UUID], generation: int) -> Claim:
        """Of `agent_ids` (missed by `lookup`), those a query of `generation` in flight will
        answer, and the rest, claimed by the caller, who queries them and then `settle`s."""
        claim = Claim({}, [], asyncio.get_running_loop().create_future())
        for agent_id in agent_ids:
            pending = self._pending.get(agent_id)
            if pending is not None and pending[0] == generation and not pending[1].done():
                claim.waiting[agent_id] = pending[1]
            else:
                claim.claimed.append(agent_id)
                self._pending[agent_id] = (generation, claim.future)
        return claim

    def settle(self, claim: Claim, outcome: Outcome) -> None:
        """End the caller's query of `claim.claimed`: whoever waits for it gets `outcome`."""
        for agent_id in claim.claimed:
            pending = self._pending.get(agent_id)
            if pending is not None and pending[1] is claim.future:
                del self._pending[agent_id]
        if not claim.future.done():
            claim.future.set_result(outcome)

    def clear(self) -> None:
        """Forget every entry (tests; an operator's reset)."""
        self._entries.clear()
