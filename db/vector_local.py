"""Commits of qdrant-client's local mode that do not each wait for the disk.

Local mode keeps a collection's points in a SQLite file of its own and commits every point
on its own, in SQLite's default rollback journal with FULL synchronous: one fsync a point,
which on embedded stores made the vector writer cost a fifth of OTLP ingestion's throughput
(bench/otlp_bench.py --requests 60, runs minutes apart: 391 spans/s with the writer switched
off, 316-322 with it, 342-356 with this). This puts that file in WAL mode with
synchronous=NORMAL, which SQLite documents as safe from corruption: a commit no longer waits
for the disk, a crash of the process loses nothing, and a power cut may lose the last points
written. The index can afford that: it is derived from the stored sessions, and
`consciousness reindex` rebuilds it.

The file's connection is private to qdrant-client (its version is pinned in uv.lock): its
place is checked here, a change is logged and leaves the defaults, and
tests/db/test_vector_local.py fails on such an upgrade.
"""

from __future__ import annotations

import logging
import sqlite3

from qdrant_client import QdrantClient

log = logging.getLogger(__name__)


def local_storage(client: QdrantClient, collection: str) -> sqlite3.Connection | None:
    """The SQLite connection local mode writes `collection`'s points through, if found."""
    local = getattr(client, "_client", None)
    collections = getattr(local, "collections", None)
    found = collections.get(collection) if isinstance(collections, dict) else None
    storage = getattr(getattr(found, "storage", None), "storage", None)
    return storage if isinstance(storage, sqlite3.Connection) else None


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
