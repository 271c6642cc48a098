"""Use cases of alert rules: create, list, update, delete, and their history and deliveries.

A rule reads its owner's metrics only; `allUsers` (everyone's rows) needs analytics:admin.
An agent filter must name an agent the caller may see (NOT_FOUND otherwise, as everywhere),
so nobody can watch, or be alerted about, another user's agent. Input is checked here and
a bad value is BAD_USER_INPUT naming the field, before anything is written.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import uuid
from dataclasses import dataclass

from auth.permissions import Permission, Principal
from core.alerts import AlertKind, AlertState, ChannelKind, Comparator
from core.errors import BadUserInput, Forbidden, NotFound
from core.settings import Settings
from db.analytics_queries import AggregateFunction, MetricField
from db.models import AlertDelivery, AlertHistory, AlertRule
from db.repositories import alerts as repository
from db.repositories.signing_keys import seal_secret
from db.types import utcnow
from outbound.webhooks import UrlRefused, check_url
from resolvers.agents import load_visible_agent
from resolvers.analytics import AggregationRequest, check_aggregation
from resolvers.analytics_math import ANOMALY_THRESHOLD
from resolvers.context import Context, Info

MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 7 * 86_400
MAX_FOR_SECONDS = 7 * 86_400
MAX_COOLDOWN_SECONDS = 30 * 86_400
MIN_ANOMALY_BUCKETS = 3
MAX_ANOMALY_BUCKETS = 1_000
MAX_RULES_PER_USER = 100
MAX_CHANNELS = 5
MAX_HISTORY = 200
SECRET_CHARS = (16, 128)
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ChannelRequest:
    kind: ChannelKind
    url: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class AlertRuleRequest:
    """A rule as asked (the AlertRuleInput): checked by `check_rule`."""

    name: str
    window_seconds: int
    threshold: float | None = None
    kind: AlertKind = AlertKind.THRESHOLD
    function: AggregateFunction = AggregateFunction.AVG
    field: MetricField | None = None
    percentile: float | None = None
    comparator: Comparator = Comparator.GT
    bucket_seconds: int | None = None
    for_seconds: int = 0
    cooldown_seconds: int = 0
    agent_id: uuid.UUID | None = None
    category: str | None = None
    source: str | None = None
    all_users: bool = False
    channels: tuple[ChannelRequest, ...] = ()
    secret: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class CreatedRule:
    """A new rule and the secret its webhook bodies are signed with (shown this once)."""

    rule: AlertRule
    signing_key: str


def _seconds(value: int | None, low: int, high: int, name: str) -> None:
    if value is None or not low <= value <= high:
        raise BadUserInput(
            f"{name} must be between {low} and {high} seconds", field=f"input.{name}"
        )


def _label(value: str | None, name: str) -> str | None:
    if value is not None and not _LABEL.match(value):
        raise BadUserInput("1 to 32 of A-Z a-z 0-9 _ . -", field=f"input.{name}")
    return value


async def check_channels(
    settings: Settings, channels: tuple[ChannelRequest, ...]
) -> list[dict[str, str]]:
    """The channels as stored; BAD_USER_INPUT for a URL or address the server will not use."""
    if len(channels) > MAX_CHANNELS:
        raise BadUserInput(f"at most {MAX_CHANNELS} channels", field="input.channels")
    stored = []
    for index, channel in enumerate(channels):
        where = f"input.channels[{index}]"
        if channel.kind is ChannelKind.WEBHOOK:
            if not channel.url:
                raise BadUserInput("a WEBHOOK channel needs url", field=f"{where}.url")
            allow = settings.webhook_allow_private_networks
            try:  # DNS resolution blocks: a worker thread, on purpose
                await asyncio.to_thread(check_url, channel.url, allow_private=allow)
            except UrlRefused as exc:
                raise BadUserInput(str(exc), field=f"{where}.url") from None
            stored.append({"kind": channel.kind.value, "url": channel.url})
        else:
            if not channel.address or not _EMAIL.match(channel.address):
                raise BadUserInput(
                    "an EMAIL channel needs a valid address", field=f"{where}.address"
                )
            if not settings.smtp_host:
                raise BadUserInput("email needs SMTP_HOST set on the server", field=where)
            stored.append({"kind": channel.kind.value, "address": channel.address})
    return stored


def check_name(value: str) -> str:
    """A rule's or schedule's name: 1 to 100 characters on one line (it heads emails)."""
    name = value.strip()
    if not 1 <= len(name) <= 100 or "\n" in name or "\r" in name:
        raise BadUserInput("name must be 1 to 100 characters on one line", field="input.name")
    return name


def check_secret(secret: str | None) -> str:
    """The given signing secret (16 to 128 characters), or a new random one."""
    if secret is None:
        return secrets.token_urlsafe(32)
    low, high = SECRET_CHARS
    if not low <= len(secret) <= high:
        raise BadUserInput(f"secret must be {low} to {high} characters", field="input.secret")
    return secret


async def check_rule(
    context: Context, principal: Principal, request: AlertRuleRequest
) -> dict[str, object]:
    """The rule's stored fields from a request; BAD_USER_INPUT / FORBIDDEN / NOT_FOUND."""
    name = check_name(request.name)
    _seconds(request.window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS, "windowSeconds")
    _seconds(request.for_seconds, 0, MAX_FOR_SECONDS, "forSeconds")
    _seconds(request.cooldown_seconds, 0, MAX_COOLDOWN_SECONDS, "cooldownSeconds")
    threshold = request.threshold
    if request.kind is AlertKind.ANOMALY:
        bucket = request.bucket_seconds
        _seconds(
            bucket,
            MIN_WINDOW_SECONDS,
            request.window_seconds // MIN_ANOMALY_BUCKETS,
            "bucketSeconds",
        )
        assert bucket is not None
        if request.window_seconds // bucket > MAX_ANOMALY_BUCKETS:
            raise BadUserInput(
                f"at most {MAX_ANOMALY_BUCKETS} buckets per window", field="input.bucketSeconds"
            )
        threshold = ANOMALY_THRESHOLD if threshold is None else threshold
        if not math.isfinite(threshold) or threshold <= 0:
            raise BadUserInput("an anomaly threshold is a |robust z| > 0", field="input.threshold")
    else:
        if request.bucket_seconds is not None:
            raise BadUserInput(
                "bucketSeconds is only for ANOMALY rules", field="input.bucketSeconds"
            )
        if threshold is None or not math.isfinite(threshold):
            raise BadUserInput("threshold must be a finite number", field="input.threshold")
    aggregation = check_aggregation(
        AggregationRequest(request.function, request.field, request.percentile), "input"
    )
    if request.all_users and not principal.has(Permission.ANALYTICS_ADMIN):
        raise Forbidden("allUsers needs the analytics:admin permission")
    if request.agent_id is not None:
        await load_visible_agent(context, request.agent_id, (Permission.ANALYTICS_ADMIN,))
    return {
        "name": name,
        "kind": request.kind.value,
        "function": aggregation.function.value,
        "field": aggregation.field.value if aggregation.field is not None else None,
        "percentile": aggregation.percentile,
        "comparator": request.comparator.value,
        "threshold": threshold,
        "window_seconds": request.window_seconds,
        "bucket_seconds": request.bucket_seconds,
        "for_seconds": request.for_seconds,
        "cooldown_seconds": request.cooldown_seconds,
        "agent_id": request.agent_id,
        "category": _label(request.category, "category"),
        "source": _label(request.source, "source"),
        "all_users": request.all_users,
        "channels": await check_channels(context.settings, request.channels),
        "enabled": request.enabled,
    }


def _scope(principal: Principal) -> uuid.UUID | None:
    """Whose rules the caller sees: their own, or everyone's with analytics:admin."""
    return None if principal.has(Permission.ANALYTICS_ADMIN) else uuid.UUID(principal.user_id)


async def create_alert_rule(info: Info, request: AlertRuleRequest) -> CreatedRule:
    context = info.context
    principal = await context.require_principal()
    fields = await check_rule(context, principal, request)
    secret = check_secret(request.secret)
    owner_id = uuid.UUID(principal.user_id)
    rule = AlertRule(owner_id=owner_id, secret=b"", **fields)  # type: ignore[arg-type]
    seal_secret(context.app.keyring, rule, secret)
    async with context.stores.database.session() as session:
        if await repository.count_rules(session, owner_id) >= MAX_RULES_PER_USER:
            raise BadUserInput(
                f"you have {MAX_RULES_PER_USER} rules: delete one first", field="input"
            )
        session.add(rule)
    return CreatedRule(rule, secret)


async def list_alert_rules(info: Info) -> list[AlertRule]:
    principal = await info.context.require_principal()
    async with info.context.stores.database.read() as session:
        return await repository.list_rules(session, _scope(principal))


async def load_rule(context: Context, rule_id: uuid.UUID) -> AlertRule:
    """The caller's rule (any rule with analytics:admin); NOT_FOUND otherwise."""
    principal = await context.require_principal()
    async with context.stores.database.read() as session:
        rule = await repository.get_rule(session, rule_id, _scope(principal))
    if rule is None:
        raise NotFound(f"no alert rule {rule_id}")
    return rule


async def update_alert_rule(info: Info, rule_id: uuid.UUID, request: AlertRuleRequest) -> AlertRule:
    """Replace a rule's definition; its state starts again from OK."""
    context = info.context
    principal = await context.require_principal()
    await load_rule(context, rule_id)
    fields = await check_rule(context, principal, request)
    async with context.stores.database.session() as session:
        rule = await repository.get_rule(session, rule_id, _scope(principal))
        if rule is None:
            raise NotFound(f"no alert rule {rule_id}")
        for name, value in fields.items():
            setattr(rule, name, value)
        if request.secret is not None:
            seal_secret(context.app.keyring, rule, check_secret(request.secret))
        rule.state, rule.pending_since = AlertState.OK.value, None
        rule.state_version += 1  # an evaluation computed from the old definition is not stored
        rule.updated_at = utcnow()
        session.add(rule)
    return rule


async def delete_alert_rule(info: Info, rule_id: uuid.UUID) -> uuid.UUID:
    context = info.context
    principal = await context.require_principal()
    async with context.stores.database.session() as session:
        rule = await repository.get_rule(session, rule_id, _scope(principal))
        if rule is None:
            raise NotFound(f"no alert rule {rule_id}")
        await session.delete(rule)
    return rule_id


def _first(first: int) -> int:
    if not 1 <= first <= MAX_HISTORY:
        raise BadUserInput(f"first must be between 1 and {MAX_HISTORY}", field="first")
    return first


async def alert_history(info: Info, rule_id: uuid.UUID, first: int) -> list[AlertHistory]:
    """A rule's changes of state, newest first."""
    await load_rule(info.context, rule_id)
    async with info.context.stores.database.read() as session:
        return await repository.list_history(session, rule_id, _first(first))


async def alert_deliveries(info: Info, rule_id: uuid.UUID, first: int) -> list[AlertDelivery]:
    """The delivery log of a rule's notifications, newest first."""
    await load_rule(info.context, rule_id)
    async with info.context.stores.database.read() as session:
        return await repository.list_deliveries(
            session, rule_id=rule_id, schedule_id=None, limit=_first(first)
        )
