"""Anomalies in authentication: noticed, written to the audit log, and answered with a block.

Three patterns are watched, each per client address:
- failed sign-ins for many different usernames (AUTH_ANOMALY_FAILED_USERNAMES within
  AUTH_ANOMALY_WINDOW_SECONDS): password spraying or credential stuffing, which the
  per-username throttle cannot see;
- a burst of registrations (AUTH_ANOMALY_REGISTRATIONS_PER_MINUTE): scripted sign-ups;
- an access token used from a second address within AUTH_ANOMALY_TOKEN_IP_SECONDS of the
  first: a copied token, or a phone moving from Wi-Fi to its mobile network.

Each is an audit row (action `auth_anomaly`, `details.kind` naming the pattern), which
admins read with `auditLog(action: "auth_anomaly")`. The first two also block the address
from `login`, `register` and `refreshToken` for AUTH_BLOCK_SECONDS: `RATE_LIMITED` with
`retryAfter`. The third blocks nothing, since the second address may well be the owner's
own; the entry names both addresses, and an admin can deactivate the user or the user can
sign out. The counters and the block live where the rate limits do (Redis on the production
column, this process otherwise); when that store is down they fail open, as the
registration limit does, and the sign-in throttle still applies.
"""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond

from auth.permissions import Principal
from core.errors import RateLimited, ServiceUnavailable
from db.repositories.audit import AuditAction
from resolvers import audit as audit_trail
from resolvers.context import Context

log = logging.getLogger(__name__)

BLOCK_NAMESPACE = "auth-block"


class AnomalyKind(StrEnum):
    FAILED_SIGN_INS_ACROSS_USERNAMES = "failed_sign_ins_across_usernames"
    REGISTRATION_BURST = "registration_burst"
    TOKEN_FROM_NEW_ADDRESS = "token_from_new_address"  # noqa: S105 - a name, no secret


def _address(context: Context) -> str:
    return context.client_ip or "unknown"


def _block_item(context: Context) -> RateLimitItem:
    """One entry per AUTH_BLOCK_SECONDS: taken, the address is blocked until it leaves."""
    return RateLimitItemPerSecond(1, context.settings.auth_block_seconds)


async def refuse_if_blocked(context: Context) -> None:
    """RATE_LIMITED when this address is blocked after an anomaly."""
    try:
        decision = await context.app.rate_limiter.check(
            BLOCK_NAMESPACE, _address(context), _block_item(context)
        )
    except ServiceUnavailable:
        log.warning("address block not checked: the rate limiter is unavailable")
        return
    if not decision.allowed:
        raise _blocked(context, decision.retry_after_seconds)


def _blocked(context: Context, retry_after: int) -> RateLimited:
    return RateLimited(
        "sign-ins and sign-ups from this address are blocked for a while after suspicious "
        f"activity (AUTH_BLOCK_SECONDS={context.settings.auth_block_seconds})",
        retry_after=retry_after,
        limit="AUTH_BLOCK_SECONDS",
    )


async def after_failed_login(context: Context, username: str) -> None:
    """Count `username` among this address's failed names; too many is an anomaly."""
    settings = context.settings
    most = settings.auth_anomaly_failed_usernames
    if most == 0:
        return
    window = settings.auth_anomaly_window_seconds
    address = _address(context)
    limiter = context.app.rate_limiter
    try:
        first = await limiter.hit(
            "auth-failed-name", f"{address}|{username}", RateLimitItemPerSecond(1, window)
        )
        if not first.allowed:
            return  # this name failed from here before, in the window: counted then
        names = await limiter.hit(
            "auth-failed-names", address, RateLimitItemPerSecond(most, window)
        )
    except ServiceUnavailable:
        log.warning("failed sign-in not watched: the rate limiter is unavailable")
        return
    if not names.allowed:
        details = {"usernames": most + 1, "window_seconds": window, "last_username": username}
        await _record(context, AnomalyKind.FAILED_SIGN_INS_ACROSS_USERNAMES, None, details)
        await _block(context)


async def before_registration(context: Context) -> None:
    """Count a registration from this address; a burst is an anomaly, refused and blocked."""
    per_minute = context.settings.auth_anomaly_registrations_per_minute
    if per_minute == 0:
        return
    try:
        decision = await context.app.rate_limiter.hit(
            "register-burst", _address(context), RateLimitItemPerMinute(per_minute)
        )
    except ServiceUnavailable:
        log.warning("registration not watched: the rate limiter is unavailable")
        return
    if not decision.allowed:
        details: dict[str, object] = {"registrations_per_minute": per_minute}
        await _record(context, AnomalyKind.REGISTRATION_BURST, None, details)
        await _block(context)
        raise _blocked(context, context.settings.auth_block_seconds)


async def after_authentication(context: Context, principal: Principal) -> None:
    """Note where this access token is used; a second address soon after is an anomaly."""
    window = context.settings.auth_anomaly_token_ip_seconds
    address = context.client_ip
    if window == 0 or address is None:
        return
    try:
        previous = await context.stores.tokens.note_sighting(principal.jti, address, window)
    except ServiceUnavailable:
        log.warning("token use not watched: the token store is unavailable")
        return
    if previous is not None:
        details = {"previous_address": previous, "within_seconds": window}
        await _record(context, AnomalyKind.TOKEN_FROM_NEW_ADDRESS, principal.user_id, details)


async def _record(
    context: Context, kind: AnomalyKind, user_id: str | None, details: dict[str, object]
) -> None:
    log.warning("authentication anomaly %s from %s: %s", kind.value, _address(context), details)
    await audit_trail.record(
        context,
        AuditAction.AUTH_ANOMALY,
        None if user_id is None else uuid.UUID(user_id),
        {"kind": kind.value, **details},
    )


async def _block(context: Context) -> None:
    try:
        await context.app.rate_limiter.hit(BLOCK_NAMESPACE, _address(context), _block_item(context))
    except ServiceUnavailable:
        log.warning("address not blocked: the rate limiter is unavailable")
