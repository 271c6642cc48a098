"""The vector store of session embeddings (Qdrant): one point per stored session.

Two columns like every store: qdrant-client's local mode under `DATA_DIR/vectors` (no
server; the folder is locked by one process, so one client per path is shared by every app
of the process) or a Qdrant server by QDRANT_URL (several server processes share it).
Point id = the session's id, so writing a session twice (a replay) overwrites it. Payload:
agent_id, owner_id (the agent's owner), user_id (who ran it), created_at (epoch seconds),
decision and categories (the input's violation categories).

qdrant-client's calls are blocking (local mode computes in Python and numpy; the server
client does HTTP), so each runs in a worker thread; local mode's collections are not
thread-safe, so its calls take one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models

from core.errors import ServiceUnavailable
from db.vector_local import commit_without_waiting, one_commit

COLLECTION = "session_embeddings_v1"
LOCAL_UPSERT_CHUNK = 16
_INDEXED = {
    "agent_id": models.PayloadSchemaType.KEYWORD,
    "owner_id": models.PayloadSchemaType.KEYWORD,
    "user_id": models.PayloadSchemaType.KEYWORD,
    "decision": models.PayloadSchemaType.KEYWORD,
    "categories": models.PayloadSchemaType.KEYWORD,
    "created_at": models.PayloadSchemaType.FLOAT,
}
T = TypeVar("T")


@dataclass(frozen=True)
class SessionVector:
    """One session's embedding and what search filters on."""

    session_id: uuid.UUID
    agent_id: uuid.UUID
    owner_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    decision: str
    categories: tuple[str, ...]
    vector: Sequence[float]

    def point(self) -> models.PointStruct:
        payload = {
            "agent_id": str(self.agent_id),
            "owner_id": str(self.owner_id),
            "user_id": str(self.user_id),
            "created_at": self.created_at.timestamp(),
            "decision": self.decision,
            "categories": list(self.categories),
        }
        return models.PointStruct(
            id=str(self.session_id), vector=list(self.vector), payload=payload
        )


@dataclass(frozen=True)
class SearchFilter:
    """What a search keeps: always one owner's points of one agent (ownership lives in the
    query itself), optionally a decision, any of some categories, a start time."""

    owner_id: uuid.UUID
    agent_id: uuid.UUID
    decision: str | None = None
    categories: tuple[str, ...] = ()
    since: datetime | None = None
    exclude: uuid.UUID | None = None  # the session a search by session starts from

    def qdrant(self) -> models.Filter:
        must: list[models.Condition] = [
            _match("owner_id", str(self.owner_id)),
            _match("agent_id", str(self.agent_id)),
        ]
        if self.decision is not None:
            must.append(_match("decision", self.decision))
        if self.categories:
            must.append(
                models.FieldCondition(
                    key="categories", match=models.MatchAny(any=list(self.categories))
                )
            )
        if self.since is not None:
            must.append(
                models.FieldCondition(
                    key="created_at", range=models.Range(gte=self.since.timestamp())
                )
            )
        must_not: list[models.Condition] = []
        if self.exclude is not None:
            must_not.append(models.HasIdCondition(has_id=[str(self.exclude)]))
        return models.Filter(must=must, must_not=must_not or None)


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


class _SharedLocal:
    """Local-mode clients by folder, reference-counted: the folder admits one per process."""

    _lock = threading.Lock()
    _clients: dict[Path, tuple[QdrantClient, int]] = {}

    @classmethod
    def acquire(cls, path: Path) -> QdrantClient:
        with cls._lock:
            client, users = cls._clients.get(path) or (QdrantClient(path=str(path)), 0)
            cls._clients[path] = (client, users + 1)
            return client

    @classmethod
    def release(cls, path: Path) -> None:
        with cls._lock:
            client, users = cls._clients[path]
            if users > 1:
                cls._clients[path] = (client, users - 1)
                return
            del cls._clients[path]
        client.close()


class VectorStore:
    """Session embeddings in Qdrant; every failure of the store is ServiceUnavailable."""

    def __init__(self, client: QdrantClient, backend: str, local_path: Path | None) -> None:
        self._client = client
        self.backend = backend
        self._local_path = local_path
        self._local_lock = threading.Lock() if local_path is not None else None

    @classmethod
    def open(cls, url: str, api_key: str, local_path: Path) -> VectorStore:
        """A Qdrant server at `url`, else local mode in `local_path` (no I/O for a server)."""
        if url:
            # No version check: it runs in a thread of its own at construction and only
            # warns; an unreachable or incompatible server fails `migrate` instead.
            client = QdrantClient(
                url=url, api_key=api_key or None, timeout=10, check_compatibility=False
            )
            return cls(client, "qdrant", None)
        local_path = local_path.resolve()
        local_path.mkdir(parents=True, exist_ok=True)
        return cls(_SharedLocal.acquire(local_path), "qdrant-local", local_path)

    async def _call(self, work: Callable[[], T]) -> T:
        """`work` in a worker thread (qdrant-client blocks), store errors as ServiceUnavailable."""

        def locked() -> T:
            with self._local_lock or contextlib.nullcontext():
                return work()

        try:
            return await asyncio.to_thread(locked)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            raise ServiceUnavailable(
                f"the vector store is unavailable: {type(exc).__name__}"
            ) from exc

    async def migrate(self, dimension: int) -> None:
        """Create the collection (cosine distance) and its payload indexes if missing; a
        collection of another dimension (another model) must be rebuilt: `consciousness
        reindex`."""

        def work() -> None:
            if not self._client.collection_exists(COLLECTION):
                self._create(dimension)
                return
            self._tune_local()
            params = self._client.get_collection(COLLECTION).config.params.vectors
            size = params.size if isinstance(params, models.VectorParams) else None
            if size != dimension:
                raise ServiceUnavailable(
                    f"the vector collection holds {size}-dimension vectors, the model makes "
                    f"{dimension}: run `consciousness reindex`"
                )

        await self._call(work)

    def _create(self, dimension: int) -> None:
        self._client.create_collection(
            COLLECTION,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
        )
        self._tune_local()
        if self._local_path is None:  # local mode has no payload indexes (it scans)
            for field, schema in _INDEXED.items():
                self._client.create_payload_index(COLLECTION, field, field_schema=schema)

    def _tune_local(self) -> None:
        if self._local_path is not None:  # a point's commit need not wait for the disk
            commit_without_waiting(self._client, COLLECTION)

    async def recreate(self, dimension: int) -> None:
        """Drop every vector and create the collection anew (`consciousness reindex`)."""

        def work() -> None:
            if self._client.collection_exists(COLLECTION):
                self._client.delete_collection(COLLECTION)
            self._create(dimension)

        await self._call(work)

    async def upsert(self, vectors: Sequence[SessionVector]) -> None:
        """Write `vectors` (a session written again is overwritten), waiting until stored.

        Local mode applies each point in Python (and commits each chunk to its SQLite file),
        so it takes LOCAL_UPSERT_CHUNK points per locked call: a search waits for one chunk,
        not a batch.
        """
        points = [vector.point() for vector in vectors]
        chunk = LOCAL_UPSERT_CHUNK if self._local_path is not None else max(len(points), 1)
        for start in range(0, len(points), chunk):
            await self._call(functools.partial(self._write, points[start : start + chunk]))

    def _write(self, points: list[models.PointStruct]) -> None:
        # Local mode: one commit a chunk (db/vector_local.py); a server client has no file.
        with one_commit(self._client, COLLECTION):
            self._client.upsert(COLLECTION, points, wait=True)

    async def search(
        self, vector: Sequence[float], where: SearchFilter, limit: int, offset: int
    ) -> list[tuple[uuid.UUID, float]]:
        """The session ids nearest `vector` under `where`, best first, with cosine scores."""
        query = list(vector)
        found = await self._call(
            lambda: (
                self._client.query_points(
                    COLLECTION,
                    query=query,
                    query_filter=where.qdrant(),
                    limit=limit,
                    offset=offset,
                    with_payload=False,
                ).points
            )
        )
        return [(uuid.UUID(str(point.id)), float(point.score)) for point in found]

    async def vectors(self, session_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[float]]:
        """The stored vectors of those sessions that have one."""
        ids: list[models.ExtendedPointId] = [str(i) for i in session_ids]
        found = await self._call(
            lambda: self._client.retrieve(COLLECTION, ids, with_vectors=True, with_payload=False)
        )
        return {
            uuid.UUID(str(p.id)): [float(x) for x in p.vector]  # type: ignore[arg-type]
            for p in found
            if isinstance(p.vector, list)
        }

    async def owned_points(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        """The payloads of every point of `user_id` (owner or runner), with ids: for exports."""
        where = models.Filter(
            should=[_match("owner_id", str(user_id)), _match("user_id", str(user_id))]
        )

        def work() -> list[dict[str, Any]]:
            return [
                {"session_id": str(point.id), **(point.payload or {})}
                for point in _scrolled(self._client, where)
            ]

        return await self._call(work)

    async def delete_where(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        before: datetime | None = None,
    ) -> None:
        """Delete an agent's points, a user's (owned or run), or those older than `before`."""
        if agent_id is not None:
            where = models.Filter(must=[_match("agent_id", str(agent_id))])
        elif user_id is not None:
            where = models.Filter(
                should=[_match("owner_id", str(user_id)), _match("user_id", str(user_id))]
            )
        elif before is not None:
            older = models.Range(lt=before.timestamp())
            where = models.Filter(must=[models.FieldCondition(key="created_at", range=older)])
        else:
            raise ValueError("delete_where needs agent_id, user_id or before")
        selector = models.FilterSelector(filter=where)
        await self._call(lambda: self._client.delete(COLLECTION, selector, wait=True))

    async def count(self) -> int:
        return await self._call(lambda: self._client.count(COLLECTION, exact=True).count)

    async def ping(self) -> float:
        """Milliseconds for a round trip (the collection list)."""
        started = time.perf_counter()
        await self._call(self._client.get_collections)
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        if self._local_path is not None:
            _SharedLocal.release(self._local_path)
        else:
            await asyncio.to_thread(self._client.close)


def _scrolled(client: QdrantClient, where: models.Filter) -> Iterator[models.Record]:
    offset: Any = None
    while True:
        page, offset = client.scroll(
            COLLECTION, scroll_filter=where, limit=1000, offset=offset, with_payload=True
        )
        yield from page
        if offset is None:
            return
