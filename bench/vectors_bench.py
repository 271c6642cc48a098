"""Benchmark: session embeddings, ingestion through the vector writer and search at 100,000.

Both on qdrant-client's local mode in a temporary directory (the embedded default), each
with a baseline in the same run:

- ingestion: N sessions stored in SQLite (sealed, as `process` stores them) and drained by
  the VectorWriter (claim, open, embed with the guard's WordLlama model, upsert, flag), vs
  the same texts embedded and upserted with qdrant-client directly in batches of the same
  size. Target: keeps up with 500 process/s.
- search: `similarSessions`' vector query (VectorStore.search: the owner-and-agent filter,
  a worker thread) over 100,000 stored vectors (10 owners, 100 agents), query text embedded
  each time, vs qdrant-client's `query_points` with the same vector and filter. p50 and p99
  of R runs; target p99 ≤ 50 ms. The collection is local mode in memory: the same search
  code as local mode in a folder, without the per-point fsync of its SQLite persistence.

What local mode costs (measured while writing this): its persistence commits every point
(about 7 ms each on this machine's disk), and its filters are checked point by point in
Python (about 50 µs a point), so neither target is within its reach; they are targets for
a Qdrant server (QDRANT_URL), which this script does not start.

Run: `.venv/bin/python bench/vectors_bench.py [--sessions N] [--vectors V] [--runs R]
[--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import Figure, add_json_option, write_figures
from qdrant_client import QdrantClient, models

from db.crypto import Keyring
from db.guard_model import MODEL_DIM, WordLlamaEmbedder, load_embedder
from db.migrate import upgrade_database
from db.models import Agent, ConsciousnessSession, User
from db.repositories.session_texts import SessionTexts, seal_texts
from db.session import Database
from db.vector_local import commit_without_waiting
from db.vector_writer import DEFAULT_BATCH_SIZE, VectorWriter
from db.vectors import COLLECTION, SearchFilter, SessionVector, VectorStore

INGEST_TARGET_PER_SECOND = 500
SEARCH_P99_TARGET_MS = 50.0
OWNERS, AGENTS = 10, 100
TOPICS = ["weather", "pasta recipes", "my bank card", "a job interview", "sleep", "python code"]


def texts(count: int) -> list[str]:
    return [
        f"Question {i} about {TOPICS[i % len(TOPICS)]}: what should I do next, and why?"
        for i in range(count)
    ]


async def store_sessions(database: Database, keyring: Keyring, inputs: list[str]) -> None:
    user_id, agent_id = uuid.uuid4(), uuid.uuid4()
    async with database.session() as session:
        session.add(User(id=user_id, username=user_id.hex, email="b@b.example", password_hash="x"))
        await session.flush()
        session.add(Agent(id=agent_id, owner_id=user_id, name="b", agent_type="ANALYTICAL"))
        await session.flush()
        for text in inputs:
            session_id = uuid.uuid4()
            sealed = seal_texts(keyring, session_id, SessionTexts(text, "answer", {}))
            session.add(
                ConsciousnessSession(
                    id=session_id,
                    request_id=uuid.uuid4(),
                    agent_id=agent_id,
                    user_id=user_id,
                    awareness_level=0.5,
                    ethical_score=1.0,
                    confidence=0.5,
                    processing_time_ms=1.0,
                    ethical_evaluation={"decision": "ANSWERED", "violations": []},
                    **vars(sealed),
                )
            )


async def ingest_writer(directory: Path, embedder: WordLlamaEmbedder, inputs: list[str]) -> float:
    database = Database(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    await upgrade_database(database.engine)
    keyring = Keyring("bench", {"bench": bytes(32)})
    await store_sessions(database, keyring, inputs)
    store = VectorStore.open("", "", directory / "writer")
    await store.migrate(MODEL_DIM)
    writer = VectorWriter(store, database, embedder, keyring, retention_days=90)
    started = time.perf_counter()
    assert await writer.drain()
    elapsed = time.perf_counter() - started
    assert writer.stats().written == len(inputs), writer.stats()
    await store.close()
    await database.close()
    return len(inputs) / elapsed


def ingest_direct(directory: Path, embedder: WordLlamaEmbedder, inputs: list[str]) -> float:
    client = QdrantClient(path=str(directory / "direct"))
    params = models.VectorParams(size=MODEL_DIM, distance=models.Distance.COSINE)
    client.create_collection("direct", vectors_config=params)
    # The store's own journal settings (db/vector_local.py), so the ratio is the writer's
    # work (claim, open, flag) and not a difference of storage settings.
    commit_without_waiting(client, "direct")
    started = time.perf_counter()
    for start in range(0, len(inputs), DEFAULT_BATCH_SIZE):
        batch = inputs[start : start + DEFAULT_BATCH_SIZE]
        vectors = embedder.embed(batch)
        points = [
            models.PointStruct(id=str(uuid.uuid4()), vector=v.tolist(), payload={"i": i})
            for i, v in enumerate(vectors)
        ]
        client.upsert("direct", points, wait=True)
    elapsed = time.perf_counter() - started
    client.close()
    return len(inputs) / elapsed


async def fill(store: VectorStore, count: int) -> tuple[uuid.UUID, uuid.UUID]:
    """`count` random unit vectors over OWNERS owners and AGENTS agents; one (owner, agent)."""
    owners = [uuid.uuid4() for _ in range(OWNERS)]
    agents = [uuid.uuid4() for _ in range(AGENTS)]
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    for start in range(0, count, 5000):
        size = min(5000, count - start)
        matrix = rng.standard_normal((size, MODEL_DIM)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        await store.upsert(
            [
                SessionVector(
                    uuid.uuid4(),
                    agents[(start + i) % AGENTS],
                    owners[(start + i) % AGENTS % OWNERS],
                    owners[(start + i) % AGENTS % OWNERS],
                    now,
                    "ANSWERED",
                    (),
                    row.tolist(),
                )
                for i, row in enumerate(matrix)
            ]
        )
    return owners[0], agents[0]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def time_search(
    store: VectorStore, client: QdrantClient, embedder: WordLlamaEmbedder, where: SearchFilter,
    runs: int,
) -> tuple[list[float], list[float]]:  # fmt: skip
    ours, direct = [], []
    for i in range(runs):
        query = f"what about {TOPICS[i % len(TOPICS)]} number {i}?"
        started = time.perf_counter()
        vector = (await asyncio.to_thread(embedder.embed, [query]))[0].tolist()
        await store.search(vector, where, 21, 0)
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        client.query_points(COLLECTION, query=vector, query_filter=where.qdrant(), limit=21)
        direct.append((time.perf_counter() - started) * 1000)
    return ours, direct


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000, help="sessions to ingest")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors searched")
    parser.add_argument("--runs", type=int, default=20, help="searches")
    add_json_option(parser)
    args = parser.parse_args()
    embedder = load_embedder()
    with tempfile.TemporaryDirectory(prefix="vectors-bench-") as tmp:
        directory = Path(tmp)
        inputs = texts(args.sessions)
        direct_rate = ingest_direct(directory, embedder, inputs)
        writer_rate = await ingest_writer(directory, embedder, inputs)
        # In memory: the same LocalCollection search code as the folder-backed local mode,
        # without its per-point fsync, so 100,000 vectors fill in seconds, not minutes.
        store = VectorStore(QdrantClient(":memory:"), "qdrant-local", None)
        await store.recreate(MODEL_DIM)
        started = time.perf_counter()
        owner, agent = await fill(store, args.vectors)
        fill_seconds = time.perf_counter() - started
        client = store._client  # the same local collection, searched directly
        ours, direct = await time_search(
            store, client, embedder, SearchFilter(owner, agent), args.runs
        )
        await store.close()
    our_p50, our_p99 = statistics.median(ours), percentile(ours, 0.99)
    direct_p50, direct_p99 = statistics.median(direct), percentile(direct, 0.99)
    print("| scenario | app path | direct qdrant-client | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| ingest {args.sessions:,} sessions (sessions/s) | {writer_rate:,.0f} "
        f"| {direct_rate:,.0f} | {writer_rate / direct_rate:.2f} | ≥ {INGEST_TARGET_PER_SECOND} |"
    )
    for name, mine, theirs in (("p50", our_p50, direct_p50), ("p99", our_p99, direct_p99)):
        print(
            f"| search {args.vectors:,} vectors, {name} ms ({args.runs} runs) | {mine:.1f} "
            f"| {theirs:.1f} | {mine / theirs:.2f} | ≤ {SEARCH_P99_TARGET_MS:g} (p99) |"
        )
    print(
        f"(filling {args.vectors:,} vectors through VectorStore.upsert took {fill_seconds:.0f} s)"
    )
    scenario = "extra: session embeddings"
    note = "qdrant-client local mode (embedded default)"
    write_figures(args.json, [
        Figure("vectors.ingest_per_s", scenario,
               f"VectorWriter: claim, embed, upsert, flag; {args.sessions:,} sessions",
               writer_rate, "sessions/s", "embed + qdrant-client upsert, same batches",
               direct_rate, "≥", INGEST_TARGET_PER_SECOND, note=note),
        Figure("vectors.search_p50_ms", scenario,
               f"similarSessions vector query incl. embedding, {args.vectors:,} vectors",
               our_p50, "ms", "query_points directly, same vector and filter", direct_p50,
               note=note),
        Figure("vectors.search_p99_ms", scenario,
               f"similarSessions vector query incl. embedding, {args.vectors:,} vectors",
               our_p99, "ms", "query_points directly, same vector and filter", direct_p99,
               "≤", SEARCH_P99_TARGET_MS, note=note),
    ])  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
