"""Semantic search over an agent's stored sessions, its drift, and forgetting its vectors.

The vectors are the WordLlama embeddings of the sessions' redacted inputs
(db/vector_writer.py), compared by cosine similarity. Ownership is part of every vector
query: the filter names the agent and its owner, so another user's sessions never reach
this process, not even as scores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.errors import BadUserInput, NotFound, ServiceUnavailable
from db.models import Agent as AgentRow
from db.repositories import sessions as stored_sessions
from db.repositories.session_texts import open_input, open_texts
from db.stores import Stores
from db.vector_writer import VectorWriter
from db.vectors import SearchFilter
from resolvers.agents import load_visible_agent
from resolvers.context import Context, Info
from resolvers.pagination import Page, build_page, page_size
from resolvers.sessions import StoredSession

MAX_OFFSET = 1000  # how deep `after` may page into one ranking
MAX_DRIFT_WINDOW = 500
MAX_FILTER_CATEGORIES = 20
EARLIER_SESSIONS = 500  # the baseline: at most this many sessions before the window
NO_VECTORS = "session embeddings are switched off on this server"


@dataclass(frozen=True)
class SimilarityFilter:
    """The optional narrowing of `similarSessions` (GraphQL's SimilarSessionsFilter)."""

    decision: str | None = None
    categories: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True)
class ScoredSession:
    """A stored session and its cosine similarity to the query (-1 to 1, 1: same direction)."""

    session: StoredSession
    score: float


@dataclass(frozen=True)
class AgentDrift:
    """`similarity`: the mean, over the agent's `recent_sessions` newest inputs, of each one's
    cosine similarity to the normalised mean (centroid) of the up to EARLIER_SESSIONS inputs
    before them; 1 = the recent inputs point where the earlier ones did, lower = drifting.
    None until the agent has both recent and earlier embedded sessions."""

    similarity: float | None
    recent_sessions: int
    earlier_sessions: int


def _writer(stores: Stores) -> VectorWriter:
    if stores.vector_writer is None:
        raise ServiceUnavailable(NO_VECTORS)
    return stores.vector_writer


async def similar_sessions(
    info: Info,
    agent_id: uuid.UUID,
    *,
    text: str | None,
    session_id: uuid.UUID | None,
    first: int,
    after: str | None,
    narrowing: SimilarityFilter,
) -> Page[ScoredSession]:
    """The agent's sessions nearest `text` or another of its sessions, best first."""
    if (text is None) == (session_id is None):
        raise BadUserInput("give exactly one of text and sessionId", field="text")
    if text is not None and not text.strip():
        raise BadUserInput("text must not be empty", field="text")
    if text is not None and len(text) > info.context.settings.max_input_chars:
        raise BadUserInput("text is longer than MAX_INPUT_CHARS", field="text")
    if len(narrowing.categories) > MAX_FILTER_CATEGORIES:
        raise BadUserInput(f"at most {MAX_FILTER_CATEGORIES} categories", field="filter.categories")
    limit = page_size(first)
    context = info.context
    agent = await load_visible_agent(context, agent_id)
    writer = _writer(context.stores)
    codec, kind = context.app.cursors, f"similar:{agent.id}"
    offset = 0 if after is None else _offset(codec.decode(kind, after))
    query_text = text if text is not None else await _session_input(context, agent, session_id)
    vector = (await writer.embed([query_text]))[0].tolist()
    where = SearchFilter(
        owner_id=agent.owner_id,
        agent_id=agent.id,
        decision=narrowing.decision,
        categories=narrowing.categories,
        since=narrowing.since,
        exclude=session_id,
    )
    found = await writer.store.search(vector, where, limit + 1, offset)
    async with context.stores.database.read() as session:
        rows = await stored_sessions.agent_sessions_by_id(session, agent.id, [i for i, _ in found])
    keyring = context.app.keyring
    scored = [
        (position, ScoredSession(StoredSession(rows[i], open_texts(keyring, rows[i])), score))
        for position, (i, score) in enumerate(found, start=offset + 1)
        if i in rows  # a session deleted since: its vector goes with the deletion
    ]
    page = build_page(
        scored,
        first=limit,
        total_count=None,
        has_previous_page=offset > 0,
        cursor_of=lambda entry: codec.encode(kind, [entry[0]]),
    )
    edges = [(cursor, entry[1]) for cursor, entry in page.edges]
    return Page(edges, page.has_next_page, page.has_previous_page, None)


def _offset(values: list[object]) -> int:
    position = values[0] if len(values) == 1 else None
    if not isinstance(position, int) or not 0 < position <= MAX_OFFSET:
        raise BadUserInput(f"cursor beyond the first {MAX_OFFSET} results", field="after")
    return position


async def _session_input(context: Context, agent: AgentRow, session_id: uuid.UUID | None) -> str:
    """The redacted input of one of the agent's sessions; NOT_FOUND if it is not one."""
    assert session_id is not None
    async with context.stores.database.read() as session:
        rows = await stored_sessions.agent_sessions_by_id(session, agent.id, [session_id])
    row = rows.get(session_id)
    if row is None:
        raise NotFound("no such session of this agent", id=str(session_id))
    return open_input(context.app.keyring, row.id, row.key_id, row.input_text)


async def agent_drift(info: Info, agent_id: uuid.UUID, window: int) -> AgentDrift:
    """How far the agent's `window` newest inputs are from its earlier ones (AgentDrift)."""
    if not 1 <= window <= MAX_DRIFT_WINDOW:
        raise BadUserInput(f"window must be between 1 and {MAX_DRIFT_WINDOW}", field="window")
    context = info.context
    agent = await load_visible_agent(context, agent_id)
    writer = _writer(context.stores)
    async with context.stores.database.read() as session:
        ids = await stored_sessions.newest_session_ids(session, agent.id, window + EARLIER_SESSIONS)
    found = await writer.store.vectors(ids)
    recent = [found[i] for i in ids[:window] if i in found]
    earlier = [found[i] for i in ids[window:] if i in found]
    return AgentDrift(drift_similarity(recent, earlier), len(recent), len(earlier))


def drift_similarity(recent: list[list[float]], earlier: list[list[float]]) -> float | None:
    """Mean cosine similarity of each `recent` unit vector to the unit centroid of `earlier`
    (None when either is empty or the centroid is zero)."""
    if not recent or not earlier:
        return None
    centroid = np.asarray(earlier, dtype=np.float64).mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm == 0.0:
        return None
    rows = np.asarray(recent, dtype=np.float64)
    lengths = np.linalg.norm(rows, axis=1)
    cosines = (rows @ (centroid / norm)) / np.where(lengths > 0, lengths, 1.0)
    return round(float(cosines.mean()), 6)
