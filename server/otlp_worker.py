"""The ingestion worker: drains the OTLP ingestion queue through resolvers/ingestion.py.

One task per process. It wakes when this process queues a batch (`notify`), and every
RETRY_INTERVAL_SECONDS, which also picks up the batches of a process that died. A batch
is claimed (db/claims.py: several processes take disjoint batches), analysed call by
call, and deleted only once every call is stored; when a store fails the batch stays
and is tried again, and the calls stored before the failure are skipped then.
`close` drains once more and stops.
"""

from __future__ import annotations

import logging

from starlette.requests import Request

from db.drain_loop import DrainLoop
from db.repositories.ingest_queue import claimed_batches
from resolvers.context import AppState, Context
from resolvers.ingestion import process_queued
from resolvers.loaders import Loaders

log = logging.getLogger(__name__)

RETRY_INTERVAL_SECONDS = 2.0
_WORKER_SCOPE = {"type": "http", "method": "POST", "path": "/v1/traces", "headers": []}


class IngestWorker(DrainLoop):
    """Queue → sessions, one batch at a time (module docstring); `wake` it after queueing."""

    def __init__(self, retry_interval_seconds: float = RETRY_INTERVAL_SECONDS) -> None:
        super().__init__("ingest-worker", retry_interval_seconds, gather_seconds=0.0)
        self._app: AppState | None = None

    def start_for(self, app: AppState) -> None:
        self._app = app
        self.start()

    async def drain(self) -> bool:
        """Process queued batches until none is left; False (logged) when one failed."""
        app = self._app
        if app is None:
            return True
        try:  # only the drain loop's one task calls this: no lock needed
            while await self._drain_one(app):
                pass
        except Exception:  # the batch stays queued; the next drain retries it
            log.exception("ingestion worker could not process a batch, will retry")
            return False
        return True

    async def _drain_one(self, app: AppState) -> bool:
        async with claimed_batches(app.stores.database, app.keyring, 1) as batches:
            for batch in batches:
                context = Context(
                    app=app,
                    request=Request(dict(_WORKER_SCOPE)),
                    response=None,
                    request_id=f"ingest-{batch.batch_id}",
                    loaders=Loaders.create(app.stores),
                )
                await process_queued(context, batch)
        return bool(batches)
