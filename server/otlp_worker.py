"""The ingestion worker: drains the OTLP ingestion queue through resolvers/ingest_batches.py.

One task per process. It wakes when this process queues a batch (`notify`), and every
RETRY_INTERVAL_SECONDS, which also picks up the batches of a process that died. It claims
up to CLAIM_BATCHES queued batches at a time (db/claims.py: several processes take
disjoint claims), and a claim is stored and deleted in one transaction.

A claim that fails because a store is down stays queued and the drain stops until the
next interval. A claim that fails otherwise may hold a poison batch: its batches are then
claimed one at a time, and a single batch that fails has the failure recorded
(db/repositories/ingest_queue.record_failure: retried RETRY_DELAY_SECONDS later, so the
batches behind it go on) until MAX_ATTEMPTS failures make it a dead letter, logged, kept
and counted in `stats` (/metrics). `close` drains once more and stops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from starlette.requests import Request

from core.errors import ServiceUnavailable
from db.drain_loop import DrainLoop
from db.repositories.ingest_queue import claimed_batches, record_failure
from resolvers.context import AppState, Context
from resolvers.ingest_batches import store_claimed
from resolvers.loaders import Loaders

log = logging.getLogger(__name__)

RETRY_INTERVAL_SECONDS = 2.0
CLAIM_BATCHES = 8  # queue rows (requests, up to OTLP_MAX_SPANS_PER_REQUEST spans each)
MAX_ATTEMPTS = 5
_WORKER_SCOPE = {"type": "http", "method": "POST", "path": "/v1/traces", "headers": []}


@dataclass(frozen=True)
class IngestStats:
    """What this process's worker did since it started."""

    stored_sessions: int = 0
    claims: int = 0
    failures: int = 0  # claims that failed (a store down, or a batch that would not store)
    dead_letters: int = 0  # batches this worker gave up on


class IngestWorker(DrainLoop):
    """Queue → sessions, one claim at a time (module docstring); `wake` it after queueing."""

    def __init__(self, retry_interval_seconds: float = RETRY_INTERVAL_SECONDS) -> None:
        super().__init__("ingest-worker", retry_interval_seconds, gather_seconds=0.0)
        self._app: AppState | None = None
        self._singles = 0  # claims still to take one batch at a time, after a failure
        self._stats = IngestStats()

    def start_for(self, app: AppState) -> None:
        self.attach(app)
        self.start()

    def attach(self, app: AppState) -> None:
        """Drain `app`'s queue (its stores, keyring and clock) from now on."""
        self._app = app

    def stats(self) -> IngestStats:
        return self._stats

    async def drain(self) -> bool:
        """Store queued claims until none is due; False (logged) when a store is down."""
        app = self._app
        if app is None:
            return True
        try:  # only the drain loop's one task calls this: no lock needed
            while await self._drain_one(app):
                pass
        except Exception:  # the claim stays queued; the next drain retries it
            self._count(failures=1)
            log.exception("ingestion worker could not reach a store, will retry")
            return False
        return True

    async def _drain_one(self, app: AppState) -> bool:
        """One claim stored, or its failure recorded; False when nothing was due."""
        limit = 1 if self._singles else CLAIM_BATCHES
        row_ids: list[int] = []
        try:
            async with claimed_batches(
                app.stores.database, app.keyring, limit, _now(app)
            ) as claimed:
                row_ids = claimed.claim.ids
                if not row_ids:
                    return False
                stored = await store_claimed(app_context(app, row_ids[0]), claimed)
        except ServiceUnavailable:
            raise
        except Exception as error:
            if not row_ids:
                raise
            await self._failed(app, row_ids, error)
            return True
        self._singles = max(0, self._singles - 1)
        self._count(stored_sessions=stored, claims=1)
        return True

    async def _failed(self, app: AppState, row_ids: list[int], error: Exception) -> None:
        """A claim failed with nothing stored: find the batch at fault, one at a time."""
        self._count(failures=1)
        if len(row_ids) > 1:
            log.warning("an ingestion claim failed (%s); taking its batches one at a time", error)
            self._singles = len(row_ids)
            return
        log.exception("ingest queue row %d failed", row_ids[0], exc_info=error)
        reason = f"{type(error).__name__}: {error}"
        dead = await record_failure(app.stores.database, row_ids, reason, _now(app), MAX_ATTEMPTS)
        self._singles = max(0, self._singles - 1)
        for batch_id in dead:
            log.error("ingest batch %s dead-lettered after %d failures", batch_id, MAX_ATTEMPTS)
        self._count(dead_letters=len(dead))

    def _count(self, **more: int) -> None:
        current = self._stats
        self._stats = replace(
            current, **{name: getattr(current, name) + value for name, value in more.items()}
        )


def _now(app: AppState) -> datetime:
    return datetime.fromtimestamp(app.clock.time(), UTC)


def app_context(app: AppState, first_row: int) -> Context:
    """The context a claim is stored in: no client, the worker's own request id."""
    return Context(
        app=app,
        request=Request(dict(_WORKER_SCOPE)),
        response=None,
        request_id=f"ingest-{first_row}",
        loaders=Loaders.create(app.stores),
    )
