"""The caller's own data (GDPR): export everything about them, or erase their account.

Erasure covers every store: the relational rows (db/repositories/privacy.py), the
analytics rows and session embeddings (vectors) of the user and of their agents, and the
refresh tokens. Their access
tokens stop working at once (a revocation cutoff for the user id, kept in the token store
until the longest-lived access token would have expired, ACCESS_TOKEN_TTL_SECONDS).
Analytics rows and vectors go first: when ClickHouse or Qdrant fails the call fails and
nothing is erased, so the user can simply retry; after the relational rows, those deletes
run once more for rows written by requests (or vector batches) that were still in flight.
The export lists each vector's payload but not the vector itself: a deterministic function
of the exported session input under the named model (EMBEDDINGS_NOTE).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auth.passwords import verify_password
from auth.permissions import Principal
from auth.ratelimit import (
    COST_NAMESPACE,
    TIER_LIMITS,
    TIER_NAMESPACE,
    budget_limit,
)
from core.errors import BadUserInput, ServiceUnavailable, Unauthenticated
from db.analytics import METRICS_COLUMNS
from db.analytics_queries import MetricsFilter, build_rows
from db.repositories import privacy, users
from resolvers.analytics import delete_user_metrics
from resolvers.analytics_exports import FORMATS, ExportFormat, ExportTicket
from resolvers.auth import check_login_throttle, count_failed_login
from resolvers.context import Context, Info
from resolvers.events import (
    agent_metrics_topic,
    agent_topic,
    owner_agents_topic,
    state_topic,
    user_metrics_topic,
)
from resolvers.similar_sessions import NO_VECTORS

log = logging.getLogger(__name__)

METRICS_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ACCOUNT_GONE = "this account no longer exists"
EMBEDDINGS_NOTE = (
    "one point per session: its payload is listed; the vector itself is not, being the "
    "named model's embedding of that session's (redacted) input, exported above"
)


@dataclass(frozen=True)
class PersonalData:
    """Everything held about a user: their rows now, and a download of their metrics."""

    generated_at: datetime
    data: dict[str, Any]  # rows by table (privacy.collect)
    metrics: ExportTicket


async def _flush_metrics(context: Context) -> None:
    """Write the metrics still queued in this process, so they are exported or erased too."""
    writer = context.stores.metrics_writer
    if writer is not None:
        await writer.flush()


async def export_my_data(info: Info) -> PersonalData:
    """The caller's rows of every table, and a short-lived download of their metrics rows."""
    context = info.context
    principal = await context.require_principal()
    user_id = uuid.UUID(principal.user_id)
    async with context.stores.database.session() as session:
        data = await privacy.collect(session, user_id, context.app.keyring)
    if data is None:
        raise Unauthenticated(ACCOUNT_GONE)
    await _flush_metrics(context)
    data["session_embeddings"] = await _embeddings_of(context, user_id)
    now = datetime.now(UTC)
    rows = build_rows(
        MetricsFilter(start=METRICS_EPOCH, end=now + timedelta(minutes=1), user_ids=(user_id,)),
        METRICS_COLUMNS,
    )
    clickhouse_format, media_type, suffix = FORMATS[ExportFormat.JSON]
    try:
        job = context.stores.analytics.exports.register(
            principal.user_id,
            context.settings.analytics_export_ttl_seconds,
            sql=rows.sql,
            parameters=rows.parameters,
            fmt=clickhouse_format,
            media_type=media_type,
            filename=f"my-consciousness-metrics.{suffix}",
        )
    except OverflowError:
        raise ServiceUnavailable("too many exports are waiting; try again shortly") from None
    return PersonalData(
        generated_at=now, data=data, metrics=ExportTicket.of(job, ExportFormat.JSON)
    )


async def _embeddings_of(context: Context, user_id: uuid.UUID) -> dict[str, Any]:
    """What the vector store holds about the user: each point's payload, not its vector."""
    writer = context.stores.vector_writer
    if writer is None:
        return {"points": [], "note": NO_VECTORS}
    return {
        "model": writer.embedder.name,
        "note": EMBEDDINGS_NOTE,
        "points": await writer.store.owned_points(user_id),
    }


async def _check_password(
    context: Context, user_id: uuid.UUID, username: str, password: str
) -> None:
    """The account's password, throttled like sign-ins (a stolen token cannot guess it)."""
    await check_login_throttle(context, username)
    async with context.stores.database.session() as session:
        user = await users.get_user(session, user_id)
    if user is None:
        raise Unauthenticated(ACCOUNT_GONE)
    valid, _ = await asyncio.to_thread(verify_password, password, user.password_hash)
    if not valid:
        await count_failed_login(context, username)
        raise BadUserInput("the password is wrong", field="password")


async def _erase_metrics(context: Context, user_id: uuid.UUID, agent_ids: list[uuid.UUID]) -> None:
    # Points owned by the user (their agents' sessions, whoever ran them) or run by them.
    await context.stores.forget_vectors(user_id=user_id)
    await _flush_metrics(context)
    await delete_user_metrics(context.stores, user_id)
    for agent_id in agent_ids:  # rows of their agents that someone else (an admin) ran
        await context.stores.analytics.delete_metrics(agent_id=agent_id)


async def _forget_counts(context: Context, principal: Principal) -> None:
    """The user's rate-limit counts (keyed by their id): tier requests and query cost."""
    limiter = context.app.rate_limiter
    tier_limit = TIER_LIMITS[principal.tier]
    if tier_limit is not None:
        await limiter.reset(TIER_NAMESPACE, principal.user_id, tier_limit)
    budget = budget_limit(context.settings, principal.tier)
    if budget is not None:
        await limiter.reset_budget(COST_NAMESPACE, principal.user_id, budget)


async def _forget_events(context: Context, user_id: uuid.UUID, agent_ids: list[uuid.UUID]) -> None:
    """The broker's kept events of the user's topics and their agents' (best effort: they
    also expire with the broker's history TTL), once this process's queued ones are out."""
    topics = [owner_agents_topic(user_id), user_metrics_topic(user_id)]
    for agent_id in agent_ids:
        topics += [agent_topic(agent_id), state_topic(agent_id), agent_metrics_topic(agent_id)]
    await context.stores.publisher.flush()
    try:
        await context.stores.broker.forget(topics)
    except ServiceUnavailable:
        log.warning("account %s: the broker's kept events could not be deleted", user_id)


async def delete_my_account(info: Info, confirm: bool, password: str) -> bool:
    """Erase the caller's account from every store (see the module docstring)."""
    if not confirm:
        raise BadUserInput("deleting your account needs confirm: true", field="confirm")
    context = info.context
    principal = await context.require_principal()
    user_id = uuid.UUID(principal.user_id)
    await _check_password(context, user_id, principal.username, password)
    async with context.stores.database.session() as session:
        agent_ids = await privacy.owned_agent_ids(session, user_id)
    try:
        await _erase_metrics(context, user_id, agent_ids)
    except Exception as exc:
        log.exception("account %s: the analytics rows could not be deleted", user_id)
        raise ServiceUnavailable(
            "the analytics or vector store is unavailable; nothing was erased"
        ) from exc
    async with context.stores.database.session() as session:
        agent_ids = await privacy.owned_agent_ids(session, user_id)  # created meanwhile
        if not await privacy.erase(session, user_id):
            raise Unauthenticated(ACCOUNT_GONE)
    tokens = context.stores.tokens
    await tokens.forget_user(str(user_id))
    access_ttl = context.settings.access_token_ttl_seconds
    await tokens.revoke_user_before(str(user_id), context.app.clock.time(), access_ttl)
    await tokens.revoke_jti(principal.jti, access_ttl)
    await _forget_counts(context, principal)
    await _forget_events(context, user_id, agent_ids)
    try:
        await _erase_metrics(context, user_id, agent_ids)  # rows of requests still in flight
    except Exception:
        log.exception("account %s: the second analytics delete failed", user_id)
    log.info("account %s erased", user_id)
    return True
