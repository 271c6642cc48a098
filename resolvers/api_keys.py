"""Ingestion API keys: a user makes, lists and revokes their own; OTLP ingestion checks one.

A key authenticates one thing, sending traces to /v1/traces (scope `ingest`), as its
owner: what it sends is processed under the owner's permissions, and stops working when
the key is revoked, the owner deactivated, or the owner loses consciousness:process. The
whole key is answered once, by `createApiKey`; only its keyed hash is stored
(auth/api_keys.py). Making and revoking a key are audited in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from auth.api_keys import INGEST_SCOPE, candidate_hashes, looks_like_api_key, new_api_key
from auth.permissions import Permission, Principal, permissions_for
from core.enums import Role, Tier
from core.errors import BadUserInput, Forbidden, NotFound, Unauthenticated
from db.models import ApiKey as ApiKeyRow
from db.models import User as UserRow
from db.repositories import api_keys
from db.repositories.audit import AuditAction
from db.types import utcnow
from resolvers.audit import record_in
from resolvers.context import AppState, Info, parse_bearer

MAX_NAME_CHARS = 100
MAX_ACTIVE_KEYS = 20
LAST_USED_RESOLUTION = timedelta(minutes=1)  # how exact a key's lastUsedAt is


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key: the whole key, shown this once, and its stored record."""

    key: str
    api_key: ApiKeyRow


async def create_api_key(info: Info, name: str) -> CreatedApiKey:
    """A new ingestion key for the caller, named `name` (1 to 100 characters)."""
    context = info.context
    principal = await context.require_principal()
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name must be 1 to {MAX_NAME_CHARS} characters", field="name")
    user_id = uuid.UUID(principal.user_id)
    made = new_api_key()
    secrets = context.app.signing_secrets
    row = ApiKeyRow(
        user_id=user_id,
        name=name,
        prefix=made.prefix,
        key_hash=candidate_hashes(made.key, secrets[:1])[0],
        scope=INGEST_SCOPE,
    )
    async with context.stores.database.session() as session:
        if await api_keys.count_active(session, user_id) >= MAX_ACTIVE_KEYS:
            raise BadUserInput(
                f"you have {MAX_ACTIVE_KEYS} active keys: revoke one first", field="name"
            )
        row = await api_keys.insert_key(session, row)
        details: dict[str, object] = {"api_key_id": str(row.id), "prefix": row.prefix}
        await record_in(session, context, AuditAction.API_KEY_CREATED, user_id, details)
    return CreatedApiKey(made.key, row)


async def list_api_keys(info: Info) -> list[ApiKeyRow]:
    """The caller's keys, revoked ones included, newest first."""
    principal = await info.context.require_principal()
    async with info.context.stores.database.read() as session:
        return await api_keys.list_keys(session, uuid.UUID(principal.user_id))


async def revoke_api_key(info: Info, key_id: uuid.UUID) -> ApiKeyRow:
    """Revoke one of the caller's keys (NOT_FOUND for anyone else's); revoking twice is a no-op."""
    context = info.context
    principal = await context.require_principal()
    user_id = uuid.UUID(principal.user_id)
    async with context.stores.database.session() as session:
        key = await api_keys.revoke_key(session, key_id, user_id, utcnow())
        if key is None:
            raise NotFound("no such API key", id=str(key_id))
        details: dict[str, object] = {"api_key_id": str(key.id), "prefix": key.prefix}
        await record_in(session, context, AuditAction.API_KEY_REVOKED, user_id, details)
    return key


def presented_key(authorization: str, x_api_key: str) -> str:
    """The key a request presents, as `Authorization: Bearer <key>` or `x-api-key: <key>`."""
    key = x_api_key.strip() or (parse_bearer(authorization) or "")
    if not key:
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>' or 'x-api-key'")
    return key


async def authenticate_api_key(app: AppState, key: str) -> Principal:
    """The principal an ingestion key acts as: its owner, with the owner's permissions.

    UNAUTHENTICATED for an unknown key; FORBIDDEN for a revoked key, a deactivated owner,
    or an owner without consciousness:process. A good key's last use is recorded.
    """
    if not looks_like_api_key(key):
        raise Unauthenticated("not an API key: make one with createApiKey")
    hashes = candidate_hashes(key, app.signing_secrets)
    async with app.stores.database.read() as session:
        found = await api_keys.find_by_hashes(session, hashes)
    if found is None:
        raise Unauthenticated("unknown API key")
    row, user = found
    if row.revoked_at is not None:
        raise Forbidden("this API key was revoked")
    if row.scope != INGEST_SCOPE:
        raise Forbidden("this API key may not send traces")
    principal = principal_of(user, f"api-key:{row.id}")
    if not user.is_active or not principal.has(Permission.CONSCIOUSNESS_PROCESS):
        raise Forbidden("the owner of this API key may not process input")
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        # At most one write a minute per key, not one per request (on SQLite the writes
        # queue behind every other writer).
        async with app.stores.database.session() as session:
            await api_keys.touch_key(session, row.id, now)
    return principal


def principal_of(user: UserRow, acting_through: str) -> Principal:
    """`user` as a principal, with their roles' permissions, acting through something other
    than an access token (named by `acting_through`, in place of the token's id)."""
    roles = tuple(Role(role) for role in user.roles)
    return Principal(
        user_id=str(user.id),
        username=user.username,
        roles=roles,
        permissions=permissions_for(list(roles)),
        tier=Tier(user.tier),
        jti=acting_through,
        issued_at=0.0,
        expires_at=0.0,
    )
