"""Commits of qdrant-client's local mode that do not each wait for the disk, and one commit
for several points.

Local mode keeps a collection's points in a SQLite file of its own and commits every point
on its own, in SQLite's default rollback journal with FULL synchronous: one fsync a point,
which on embedded stores made the vector writer cost a fifth of OTLP ingestion's throughput
(bench/otlp_bench.py --requests 60, runs minutes apart: 391 spans/s with the writer switched
off, 316-322 with it, 342-356 with this). This puts that file in WAL mode with
synchronous=NORMAL, which SQLite documents as safe from corruption: a commit no longer waits
for the disk, a crash of the process loses nothing, and a power cut may lose the last points
written. The index can afford that: it is derived from the stored sessions, and
`consciousness reindex` rebuilds it.

Even so, a commit per point was about 50 of the 125 µs of CPU a point cost to upsert
(bench/vectors_bench.py's texts, 3,000 sessions drained), and `process`'s vector writer
runs in the serving process: `one_commit` makes the points of one upsert call share a
commit. The points are applied to the in-memory collection one by one, as before, and what
was applied is committed even when a later point fails, so the file and the memory agree
as they did with a commit each.

The file's connection is private to qdrant-client (its version is pinned in uv.lock): its
place is checked here, a change is logged and leaves the defaults, and
tests/db/test_vector_local.py fails on such an upgrade.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qdrant_client import QdrantClient

log = logging.getLogger(__name__)


def _persistence(client: QdrantClient, collection: str) -> Any:
    """The object through which local mode persists `collection`'s points, if found: its
    `storage` attribute is the SQLite connection."""
    local = getattr(client, "_client", None)
    collections = getattr(local, "collections", None)
    found = collections.get(collection) if isinstance(collections, dict) else None
    persistence = getattr(found, "storage", None)
    storage = getattr(persistence, "storage", None)
    return persistence if isinstance(storage, sqlite3.Connection) else None


def local_storage(client: QdrantClient, collection: str) -> sqlite3.Connection | None:
    """The SQLite connection local mode writes `collection`'s points through, if found."""
    persistence = _persistence(client, collection)
    return None if persistence is None else persistence.storage


class _SharedTransaction:
    """The connection as a point's write sees it: its `with` block (a commit each) does
    nothing, so the statements stay in the transaction `one_commit` ends."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> _SharedTransaction:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, parameters)


@contextmanager
def one_commit(client: QdrantClient, collection: str) -> Iterator[None]:
    """The points written to `collection` inside share one commit, made on leaving, also
    when a write failed (what was applied in memory is what is stored). Where the file is
    not found, each point commits as qdrant-client does it."""
    persistence = _persistence(client, collection)
    if persistence is None:
        yield
        return
    connection = persistence.storage
    persistence.storage = _SharedTransaction(connection)
    try:
        yield
    finally:
        persistence.storage = connection
        connection.commit()


def commit_without_waiting(client: QdrantClient, collection: str) -> bool:
    """WAL and synchronous=NORMAL for `collection`'s file (module docstring); False, logged,
    when this qdrant-client keeps it elsewhere or refuses."""
    storage = local_storage(client, collection)
    if storage is None:
        log.warning("qdrant-client's local storage is not where expected: commits wait for disk")
        return False
    try:
        storage.execute("PRAGMA journal_mode=WAL")
        storage.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        log.warning("the local vector file keeps its journal settings: %s", exc)
        return False
    return True
