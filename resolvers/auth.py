"""Use cases of authentication: register, login, refresh rotation, logout, and `me`."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour

from auth.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordPolicyError,
    check_policy,
    hash_password,
    verify_password,
)
from auth.ratelimit import LOGIN_ATTEMPTS_PER_IP, LOGIN_ATTEMPTS_PER_USERNAME
from auth.tokens import hash_refresh_token, new_refresh_token
from core.enums import Role, Tier
from core.errors import (
    BadUserInput,
    Forbidden,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)
from db.models import User as UserRow
from db.repositories import users
from db.repositories.audit import AuditAction
from db.tokens import RefreshRecord
from db.types import utcnow
from resolvers import anomalies
from resolvers import audit as audit_trail
from resolvers.context import Context, Info

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
log = logging.getLogger(__name__)
LOGIN_FAILED = "invalid username or password"
TOKEN_TYPE = "Bearer"  # noqa: S105  (the scheme name)
ACCOUNT_ROW_FIELDS = "email|isActive|createdAt|lastLoginAt"
"""User fields only the account's row answers (as resolvers/selection.selects takes them);
a principal (an access token's claims) answers the rest: `me`, and a listing's owner."""


@dataclass(frozen=True)
class Registration:
    """A new account's name, address and chosen password, as the client sent them."""

    username: str
    email: str
    password: str


@dataclass(frozen=True)
class IssuedTokens:
    """A signed-in user's new token pair (of type TOKEN_TYPE); the schema makes it an
    AuthPayload."""

    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    user: UserRow


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing reveals nothing."""
    return hash_password(uuid.uuid4().hex)


def _validate_registration(data: Registration) -> None:
    if not USERNAME_PATTERN.match(data.username):
        raise BadUserInput(
            "username must be 3 to 64 letters, digits, '_', '.' or '-'", field="username"
        )
    if len(data.email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(data.email):
        raise BadUserInput("email is not a valid address", field="email")
    try:
        check_policy(data.password, username=data.username)
    except PasswordPolicyError as exc:
        raise BadUserInput(str(exc), field="password") from None


async def _issue(context: Context, user: UserRow, family_id: str | None = None) -> IssuedTokens:
    """A new access token and a new refresh token in `family_id` (a new family by default)."""
    family_id = family_id or uuid.uuid4().hex
    refresh = await _save_refresh(context, user.id, family_id)
    return await _tokens(context, user, refresh, family_id)


async def _save_refresh(context: Context, user_id: uuid.UUID, family_id: str) -> str:
    """A new refresh token for `user_id`, recorded in the token store."""
    refresh = new_refresh_token()
    await context.stores.tokens.save_refresh(
        hash_refresh_token(refresh),
        RefreshRecord(
            user_id=str(user_id), family_id=family_id, issued_at=context.app.clock.time()
        ),
        context.settings.refresh_token_ttl_seconds,
    )
    return refresh


async def _tokens(context: Context, user: UserRow, refresh: str, family_id: str) -> IssuedTokens:
    """The access token, remembered in the refresh token's family: detecting the reuse of
    a refresh token revokes what the family was issued, not only its refresh tokens."""
    access = context.app.access_tokens.issue(user)
    expires_at = context.app.clock.time() + access.expires_in
    await context.stores.tokens.remember_access(family_id, access.jti, expires_at)
    return IssuedTokens(
        access_token=access.token,
        refresh_token=refresh,
        expires_in=access.expires_in,
        user=user,
    )


async def register(info: Info, data: Registration) -> IssuedTokens:
    context = info.context
    if not context.settings.registration_enabled:
        raise Forbidden("registration is closed on this server")
    _validate_registration(data)
    await anomalies.refuse_if_blocked(context)
    await anomalies.before_registration(context)
    await _count_registration(context)
    password_hash = await asyncio.to_thread(hash_password, data.password)
    # The token store first: when it fails, no account is left behind and the username stays
    # free (and no database write lock is held across a Redis call). A record left for an
    # account that then failed to be created names no user: refreshing with it is refused.
    user_id = uuid.uuid4()
    family_id = uuid.uuid4().hex
    refresh = await _save_refresh(context, user_id, family_id)
    async with context.stores.database.session() as session:
        user = await users.create_user(
            session,
            user_id=user_id,
            username=data.username,
            email=data.email,
            password_hash=password_hash,
            roles=[Role.USER],
            tier=Tier.BASIC,
        )
        await audit_trail.record_in(session, context, AuditAction.REGISTER, user.id)
    return await _tokens(context, user, refresh, family_id)


async def _count_registration(context: Context) -> None:
    """RATE_LIMITED after REGISTRATIONS_PER_IP_PER_HOUR attempts from one address.

    Every attempt counts, taken names included: `register` must say when a name is taken
    (it signs the new user in at once, with no e-mail round trip to hide it behind), so
    this limit is what bounds probing for names, as well as mass account creation.
    """
    per_hour = context.settings.registrations_per_ip_per_hour
    if per_hour == 0:
        return
    try:
        decision = await context.app.rate_limiter.hit(
            "register-ip", context.client_ip or "unknown", RateLimitItemPerHour(per_hour)
        )
    except ServiceUnavailable:
        # Fail open, like the query-cost budgets: registering needs the token store, which
        # answers for itself; a rate limiter outage alone must not close sign-ups.
        log.warning("registration not counted: the rate limiter is unavailable")
        return
    if not decision.allowed:
        raise RateLimited(
            f"too many registrations from this address; at most {per_hour} an hour "
            "(REGISTRATIONS_PER_IP_PER_HOUR)",
            retry_after=decision.retry_after_seconds,
        )


def _login_limits(context: Context, username: str) -> list[tuple[str, str, RateLimitItem]]:
    """The login throttle's counters: (namespace, key, limit) per username and per address."""
    return [
        ("login-user", username, LOGIN_ATTEMPTS_PER_USERNAME),
        ("login-ip", context.client_ip or "unknown", LOGIN_ATTEMPTS_PER_IP),
    ]


async def check_login_throttle(context: Context, username: str) -> None:
    """RATE_LIMITED after too many wrong passwords for this username or from this address."""
    for namespace, key, limit in _login_limits(context, username):
        decision = await context.app.rate_limiter.check(namespace, key, limit)
        if not decision.allowed:
            raise RateLimited(
                "too many failed sign-ins; try again later",
                retry_after=decision.retry_after_seconds,
            )


async def count_failed_login(context: Context, username: str) -> None:
    for namespace, key, limit in _login_limits(context, username):
        await context.app.rate_limiter.hit(namespace, key, limit)


async def login(info: Info, username: str, password: str) -> IssuedTokens:
    context = info.context
    if len(password) > MAX_PASSWORD_LENGTH:  # no account has one; Argon2 is not asked
        raise BadUserInput(
            f"password must be at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )
    username = username.strip().lower()
    await anomalies.refuse_if_blocked(context)
    await check_login_throttle(context, username)
    async with context.stores.database.session() as session:
        user = await users.get_user_by_username(session, username)
    valid, new_hash = await asyncio.to_thread(
        verify_password, password, user.password_hash if user else _dummy_hash()
    )
    if user is None or not valid or not user.is_active:
        await count_failed_login(context, username)
        await anomalies.after_failed_login(context, username)
        reason = "unknown user" if user is None else "wrong password" if not valid else "inactive"
        await audit_trail.record(
            context,
            AuditAction.LOGIN_FAILED,
            user.id if user else None,
            {"username": username, "reason": reason},
        )
        raise Unauthenticated(LOGIN_FAILED)
    async with context.stores.database.session() as session:
        if new_hash is not None:  # the hashing parameters changed since this hash was made
            user.password_hash = new_hash
        user.last_login_at = utcnow()
        user = await users.save_user(session, user)
        await audit_trail.record_in(session, context, AuditAction.LOGIN, user.id)
    context.stores.user_rows.forget_user(user.id)  # its sign-in time moved
    return await _issue(context, user)


async def refresh_token(info: Info, refresh_token: str) -> IssuedTokens:
    """Rotate: the presented token is spent and a new pair issued in the same family.

    A token presented a second time means it was copied: the whole family is revoked (its
    refresh tokens and the access tokens issued with them), so both the thief and the
    victim must sign in again.
    """
    context = info.context
    await anomalies.refuse_if_blocked(context)
    store = context.stores.tokens
    use = await store.use_refresh(
        hash_refresh_token(refresh_token), context.settings.refresh_token_ttl_seconds
    )
    if use is None:
        raise Unauthenticated("invalid or expired refresh token")
    record = use.record
    user_id = uuid.UUID(record.user_id)
    if not use.first_use:
        await store.revoke_family(record.family_id, context.settings.refresh_token_ttl_seconds)
        await audit_trail.record(
            context, AuditAction.REFRESH_REUSE_DETECTED, user_id, {"family": record.family_id}
        )
        raise Unauthenticated("refresh token reuse detected: this sign-in was revoked")
    if await store.is_family_revoked(record.family_id):
        raise Unauthenticated("refresh token revoked")
    async with context.stores.database.session() as session:
        user = await users.get_user(session, user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("invalid or expired refresh token")
        await audit_trail.record_in(session, context, AuditAction.REFRESH, user.id)
    return await _issue(context, user, record.family_id)


async def logout(info: Info, refresh_token: str) -> bool:
    """Revoke the refresh token's family (with the access tokens issued in it) and, when one
    is sent, the current access token."""
    context = info.context
    store = context.stores.tokens
    ttl = context.settings.refresh_token_ttl_seconds
    use = await store.use_refresh(hash_refresh_token(refresh_token), ttl)
    if use is None:
        raise Unauthenticated("invalid or expired refresh token")
    try:
        principal = await context.principal()
    except Unauthenticated:
        principal = None  # an access token already dead: nothing more to revoke
    await store.revoke_family(use.record.family_id, ttl)
    if principal is not None:
        remaining = max(1, int(principal.expires_at - context.app.clock.time()) + 1)
        await store.revoke_jti(principal.jti, remaining)
    await audit_trail.record(context, AuditAction.LOGOUT, uuid.UUID(use.record.user_id))
    return True


async def me(info: Info) -> UserRow:
    """The caller's account: read once per access token (db/user_cache.py says why that is
    current), then from this process's cache."""
    principal = await info.context.require_principal()
    cache = info.context.stores.user_rows
    user = cache.get(principal.jti)
    if user is not None:
        return user
    read_at = time.monotonic()
    async with info.context.stores.database.read() as session:
        user = await users.get_user(session, uuid.UUID(principal.user_id))
    if user is None or not user.is_active:
        raise Unauthenticated("this account no longer exists or was deactivated")
    cache.put(principal.jti, user, read_at)
    return user
