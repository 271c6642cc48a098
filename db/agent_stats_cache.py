"""Agent statistics kept between analytics inserts, so listings do not query ClickHouse each time.

An agent's stats change only when metrics rows are inserted. This process's rows arrive
through its metrics writer, whose count of inserted rows is the cache's generation: any
insert here empties it. Rows other processes insert are seen at the latest `max_age_seconds`
(ANALYTICS_FLUSH_INTERVAL_SECONDS) after the entry was read, which is how far behind a
writer's buffer stats already were. A listing of 20 agents with their stats measured 1.6x
the requests per CPU-second with the cache (bench/profile_operation.py agents --servers):
the ClickHouse query was the largest single cost of the page.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.lru import LRU
from db.analytics_queries import AgentStats

MAX_AGENTS = 50_000  # entries kept, least recently used dropped first


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

    def clear(self) -> None:
        """Forget every entry (tests; an operator's reset)."""
        self._entries.clear()
