"""DataLoaders, built fresh for every request (and every subscription event) by `Loaders.create`.

One small module-level function per loader: it takes the batch of keys, runs one query
through the repository, and returns the results in key order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from core.errors import ServiceUnavailable
from db.agent_stats_cache import Claim, Outcome
from db.analytics_queries import NO_REQUESTS, AgentStats, build_agent_stats, statistic
from db.models import User
from db.repositories import agents, sessions
from db.repositories.sessions import SessionSummary
from db.stores import Stores

log = logging.getLogger(__name__)

RecentKey = tuple[uuid.UUID, int]  # (agent id, how many sessions)


async def load_users(stores: Stores, keys: list[uuid.UUID]) -> list[User | None]:
    """Users by id (agent owners); None for an id that does not exist."""
    async with stores.database.read() as session:
        found = await agents.users_by_id(session, keys)
    return [found.get(key) for key in keys]


async def fetch_agent_stats(
    stores: Stores, agent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AgentStats]:
    """Agent statistics from the analytics store: those cached since this process's last
    insert (db/agent_stats_cache.py), the others in one ClickHouse query, or from the query
    in flight that already asks for them.

    An agent without metrics rows is absent (its stats are NO_REQUESTS). They are as fresh
    as this process's last insert, and at most ANALYTICS_FLUSH_INTERVAL_SECONDS behind
    other processes' inserts.
    """
    generation = stores.analytics_generation()
    cached, missing = stores.agent_stats.lookup(agent_ids, generation)
    found = {agent_id: stats for agent_id, stats in cached.items() if stats is not None}
    if not missing:
        return found
    claim = stores.agent_stats.claim(missing, generation)
    if claim.claimed:
        found |= await _query_agent_stats(stores, claim, generation)
    abandoned: list[uuid.UUID] = []
    for agent_id, future in claim.waiting.items():
        # shielded: a waiter cancelled (its time limit) must not cancel the others' future
        outcome = await asyncio.shield(future)
        if isinstance(outcome, ServiceUnavailable):  # one per waiter: no shared traceback
            raise ServiceUnavailable(outcome.message) from None
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is None:
            abandoned.append(agent_id)  # its caller was cancelled: ask again
        elif agent_id in outcome:
            found[agent_id] = outcome[agent_id]
    if abandoned:
        found |= await fetch_agent_stats(stores, abandoned)
    return found


async def _query_agent_stats(
    stores: Stores, claim: Claim, generation: int
) -> dict[uuid.UUID, AgentStats]:
    """The claimed agents' stats in one query, kept in the cache and handed to the callers
    waiting for them; they get its error too, or None if this caller is cancelled."""
    outcome: Outcome = None
    try:
        read_at = time.monotonic()
        query = build_agent_stats(claim.claimed)
        try:
            rows = await stores.analytics.query_rows(query.sql, query.parameters)
        except Exception as exc:
            log.warning("agent statistics unavailable: %s", exc)
            outcome = ServiceUnavailable(
                "agent statistics are unavailable: the analytics store is down"
            )
            raise outcome from None
        fetched = {
            agent_id: AgentStats(
                int(count), statistic(awareness), statistic(ethical), statistic(p95)
            )
            for agent_id, count, awareness, ethical, p95 in rows
        }
        stores.agent_stats.store(claim.claimed, fetched, generation, read_at)
        outcome = fetched
        return fetched
    finally:
        stores.agent_stats.settle(claim, outcome)


async def load_agent_stats(stores: Stores, keys: list[uuid.UUID]) -> list[AgentStats]:
    """Agent statistics for single agents' stats fields (a listing fetches its page's)."""
    found = await fetch_agent_stats(stores, keys)
    return [found.get(key, NO_REQUESTS) for key in keys]


async def load_recent_sessions(stores: Stores, keys: list[RecentKey]) -> list[list[SessionSummary]]:
    """The newest sessions by (agent id, count): one query per distinct count in the batch."""
    by_limit: dict[int, list[uuid.UUID]] = defaultdict(list)
    for agent_id, limit in keys:
        by_limit[limit].append(agent_id)
    found: dict[RecentKey, list[SessionSummary]] = {}
    async with stores.database.read() as session:
        for limit, agent_ids in by_limit.items():
            recent = await sessions.recent_by_agent(session, agent_ids, limit)
            for agent_id in agent_ids:
                found[(agent_id, limit)] = recent.get(agent_id, [])
    return [found[key] for key in keys]


class Loaders:
    """One attribute per loader; each batches its keys into one store round trip.

    A loader is built on first use, so a fresh set per request or per subscription event
    costs one small object until something actually loads.
    """

    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    @classmethod
    def create(cls, stores: Stores) -> Loaders:
        return cls(stores)

    @functools.cached_property
    def users(self) -> DataLoader[uuid.UUID, User | None]:
        return DataLoader(load_fn=functools.partial(load_users, self._stores))

    @functools.cached_property
    def agent_stats(self) -> DataLoader[uuid.UUID, AgentStats]:
        return DataLoader(load_fn=functools.partial(load_agent_stats, self._stores))

    @functools.cached_property
    def recent_sessions(self) -> DataLoader[RecentKey, list[SessionSummary]]:
        return DataLoader(load_fn=functools.partial(load_recent_sessions, self._stores))
