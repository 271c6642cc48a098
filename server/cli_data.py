"""The data-maintenance commands of `consciousness`: rotate-data-key and reindex.

Both rewrite stored data in resumable batches beside (or, for reindex in local mode,
instead of) a running server; server/cli.py parses their options.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Protocol

from core.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from db.crypto import Keyring


class SealedRows(Protocol):
    """Rows that rotate-data-key re-seals: a module or an object with these two."""

    async def count_to_rotate(self, session: AsyncSession, keyring: Keyring) -> int: ...

    async def rotate_batch(self, session: AsyncSession, keyring: Keyring, limit: int) -> int: ...


def rotate_data_key(settings: Settings, args: argparse.Namespace) -> None:
    """Re-encrypt every session, every queued OTLP batch (raw prompts until analysed) and
    every webhook signing secret under the current data key, in batches of one transaction.

    Resumable (each batch takes the rows still under another key) and safe beside a
    running server (each row is rewritten only if its key id is still the one read).
    """
    from db.crypto import DataKeyError, Keyring
    from db.models import AlertRule, ReportSchedule
    from db.repositories import ingest_queue, session_texts
    from db.repositories.signing_keys import SigningKeyRows
    from db.session import Database
    from server.startup import prepare_database

    if args.batch_size < 1:
        raise ConfigurationError("error: --batch-size must be at least 1")
    try:
        keyring = Keyring(*settings.data_keys())
    except ValueError as exc:
        raise ConfigurationError(f"error: DATA_ENCRYPTION_KEYS: {exc}") from None
    kinds: list[tuple[str, SealedRows]] = [
        ("sessions", session_texts),
        ("queued OTLP batches", ingest_queue),
        ("alert rules' signing secrets", SigningKeyRows(AlertRule)),
        ("report schedules' signing secrets", SigningKeyRows(ReportSchedule)),
    ]

    async def run() -> None:
        await prepare_database(settings)  # not analytics: a running server holds chDB
        database = Database(settings.resolved_database_url)
        try:
            for name, rows in kinds:
                async with database.session() as session:
                    total = await rows.count_to_rotate(session, keyring)
                print(f"{total} {name} to re-encrypt under data key {keyring.current_id!r}")
                done = 0
                while True:
                    async with database.write_session() as session:
                        batch = await rows.rotate_batch(session, keyring, args.batch_size)
                    if batch == 0:
                        break
                    done += batch
                    print(f"re-encrypted {done} of {total} {name}", flush=True)
            print(
                f"done: every session, queued batch and signing secret is encrypted under "
                f"{keyring.current_id!r}; other keys can be removed from DATA_ENCRYPTION_KEYS"
            )
        except DataKeyError as exc:
            raise ConfigurationError(f"error: {exc}") from None
        finally:
            await database.close()

    asyncio.run(run())


def reindex(settings: Settings, args: argparse.Namespace) -> None:
    """Rebuild the session embeddings from the stored sessions (a model change, a lost store).

    Without --resume the collection is dropped and every session queued again; each batch
    is flagged once stored, so an interrupted run continues with `--resume`. With the
    embedded store (no QDRANT_URL) stop the server first: local mode admits one process.
    """
    from db.crypto import Keyring
    from db.guard_model import MODEL_DIM, load_embedder
    from db.session import Database
    from db.vector_queue import count_waiting, requeue_all
    from db.vector_writer import VectorWriter
    from db.vectors import VectorStore
    from server.startup import prepare_database

    if args.batch_size < 1:
        raise ConfigurationError("error: --batch-size must be at least 1")

    async def run() -> None:
        await prepare_database(settings)
        try:
            store = VectorStore.open(
                settings.qdrant_url, settings.qdrant_api_key, settings.vectors_path
            )
        except RuntimeError as exc:  # local mode's folder lock: the server holds it
            raise ConfigurationError(f"error: QDRANT_URL: {exc} (stop the server first)") from None
        database = Database(settings.resolved_database_url)
        try:
            if args.resume:
                await store.migrate(MODEL_DIM)
            else:
                await store.recreate(MODEL_DIM)
                await requeue_all(database)
            total = await count_waiting(database)
            writer = VectorWriter(
                store,
                database,
                load_embedder(),
                Keyring(*settings.data_keys()),
                retention_days=settings.vector_retention_days,
                batch_size=args.batch_size,
            )
            done = 0
            print(f"{total} sessions to embed into {settings.qdrant_url or 'local mode'}")
            while batch := await writer.drain_batch():
                done += batch
                print(_progress_bar(done, total), end="\r", flush=True)
            stats = writer.stats()
            print(
                f"\ndone: {stats.written} sessions embedded, {stats.unreadable} skipped: "
                "their input did not open (see the log)"
            )
        finally:
            await database.close()
            await store.close()

    asyncio.run(run())


def _progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = width if total <= 0 else min(width, width * done // total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{max(total, done)}"
