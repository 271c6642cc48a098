"""The relational tables (users, agents and their versions, sessions, ethics feedback, audit
log) as SQLModel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from core.enums import AgentStatus, Role, Tier
from db.types import JSONDocument, UTCDateTime, utcnow

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _optional_timestamp() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(*, default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONDocument, nullable=False))


def _foreign_key(target: str, *, ondelete: str, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            Uuid(), ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
        ),
    )


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    roles: list[str] = _json(default=lambda: [Role.USER.value])
    tier: str = Field(default=Tier.BASIC.value, max_length=32)
    is_active: bool = Field(default=True)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()
    last_login_at: datetime | None = _optional_timestamp()


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_agents_owner_created", "owner_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=2000)
    agent_type: str = Field(max_length=32)
    configuration: dict[str, Any] = _json(default=dict)
    consciousness_state: dict[str, Any] = _json(default=dict)
    # Bumped by every write of consciousness_state: `process` writes only if it is unchanged.
    state_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    status: str = Field(default=AgentStatus.INACTIVE.value, max_length=16, index=True)
    # Ids of the owner's active EthicsFeedback marks, in the order given; versioned with the
    # agent, so a rollback restores the marks of that version.
    ethics_feedback: list[str] = _json(default=list)
    version: int = Field(default=1)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()
    last_activity: datetime | None = _optional_timestamp()


class AgentVersion(SQLModel, table=True):
    """An immutable snapshot of an agent, written on every change."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agent_id: uuid.UUID = _foreign_key("agents.id", ondelete="CASCADE")
    version: int
    snapshot: dict[str, Any] = _json(default=dict)
    changes: dict[str, Any] = _json(default=dict)
    changed_by: uuid.UUID | None = _foreign_key("users.id", ondelete="SET NULL", nullable=True)
    created_at: datetime = _created_at()


class ConsciousnessSession(SQLModel, table=True):
    """One processed request: what came in, what went out, and the engine's account of it.

    The input, the response and the request context are stored encrypted (db/crypto.py)
    under the data key `key_id`; db/repositories/session_texts.py seals and opens them.
    """

    __tablename__ = "consciousness_sessions"
    __table_args__ = (
        Index("ix_sessions_agent_created", "agent_id", "created_at", "id"),
        # The sessions the vector writer has still to embed (db/vector_writer.py): small.
        Index(
            "ix_sessions_unvectorised",
            "created_at",
            postgresql_where=text("NOT vectorised"),
            sqlite_where=text("NOT vectorised"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    request_id: uuid.UUID = Field(sa_column=Column(Uuid(), nullable=False, unique=True))
    agent_id: uuid.UUID = _foreign_key("agents.id", ondelete="CASCADE", index=False)
    user_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE")
    input_text: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    response_text: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary(), nullable=True)
    )
    context: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    # None: written before encryption at rest, plaintext until rotate-data-key seals it.
    key_id: str | None = Field(default=None, max_length=32)
    consciousness_state: dict[str, Any] = _json(default=dict)
    processing_metrics: dict[str, Any] = _json(default=dict)
    ethical_evaluation: dict[str, Any] = _json(default=dict)
    awareness_level: float
    ethical_score: float
    confidence: float
    processing_time_ms: float
    blocked: bool = Field(default=False)
    created_at: datetime = _created_at()
    # True once its embedding is in the vector store: the vector writer's queue is the
    # sessions still false, so a committed session is never missed (db/vector_writer.py).
    vectorised: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class EthicsFeedback(SQLModel, table=True):
    """An owner's mark on a stored session's ethics decision; never changed once written.

    Whether it applies is the agent's `ethics_feedback` list (undo and rollback change that).
    The marked text and the rules that fired are read from the session itself.
    """

    __tablename__ = "ethics_feedback"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agent_id: uuid.UUID = _foreign_key("agents.id", ondelete="CASCADE")
    session_id: uuid.UUID = _foreign_key("consciousness_sessions.id", ondelete="CASCADE")
    user_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE", index=False)
    kind: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created_at()


class MetricsOutbox(SQLModel, table=True):
    """A metrics row committed with its session, until the analytics writer has it in
    ClickHouse (db/analytics_writer.py). Its user's or agent's deletion takes it along."""

    __tablename__ = "metrics_outbox"

    # Drain order; SQLite autoincrements only an INTEGER primary key.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    user_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE")
    agent_id: uuid.UUID = _foreign_key("agents.id", ondelete="CASCADE")
    row: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))  # JSON of a ColumnRow


class AuditLog(SQLModel, table=True):
    """Who did what security-relevant thing, from where, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_user_created", "user_id", "created_at"),
        Index("ix_audit_action_created", "action", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID | None = _foreign_key(
        "users.id", ondelete="SET NULL", nullable=True, index=False
    )
    action: str = Field(max_length=64)
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    details: dict[str, Any] = _json(default=dict)
    created_at: datetime = _created_at()


class ApiKey(SQLModel, table=True):
    """A user's key for machine ingestion (OTLP traces), stored as a keyed hash only.

    `prefix` is the key's public beginning, shown in listings so the owner can tell keys
    apart; `key_hash` is HMAC-SHA256 of the whole key (auth/api_keys.py). A revoked key
    stays listed with `revoked_at` set and authenticates nothing.
    """

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_created", "user_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE", index=False)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=32)
    created_at: datetime = _created_at()
    last_used_at: datetime | None = _optional_timestamp()
    revoked_at: datetime | None = _optional_timestamp()


class IngestQueue(SQLModel, table=True):
    """GenAI calls of an acknowledged OTLP request, until the ingestion worker has stored
    them as sessions (resolvers/ingestion.py). The calls hold raw prompts and outputs, so
    `payload` is sealed (db/crypto.py) under the data key `key_id`, bound to `batch_id`;
    its user's deletion takes it along."""

    __tablename__ = "ingest_queue"

    # Drain order; SQLite autoincrements only an INTEGER primary key.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    batch_id: uuid.UUID = Field(sa_column=Column(Uuid(), nullable=False, unique=True))
    user_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE")
    spans: int
    key_id: str = Field(max_length=32)
    payload: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = _created_at()
    # A batch whose analysis failed (server/otlp_worker.py): how often, the last error, when
    # it may be tried again; after INGEST_MAX_ATTEMPTS it is dead-lettered (`dead_at` set):
    # kept, counted apart, and no longer claimed.
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    last_error: str | None = Field(default=None, max_length=500)
    retry_at: datetime | None = _optional_timestamp()
    dead_at: datetime | None = _optional_timestamp()


class AlertRule(SQLModel, table=True):
    """A user's alert rule and its current state (resolvers/alert_rules.py, alert_evaluator.py).

    Without `all_users` it reads only its owner's metrics rows; `all_users` (admins only)
    reads everyone's. `channels` are {"kind": "webhook", "url"} or {"kind": "email",
    "address"}; `secret` signs its webhook bodies (HMAC-SHA256), sealed under the data key
    `secret_key_id` (db/repositories/signing_keys.py). `state_version` is bumped by
    every stored transition: a transition is written only over the version it was computed
    from, so two evaluators can never both record (and notify) the same one.
    """

    __tablename__ = "alert_rules"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    function: str = Field(max_length=16)
    field: str | None = Field(default=None, max_length=32)
    percentile: float | None = None
    comparator: str = Field(max_length=4)
    threshold: float
    window_seconds: int
    bucket_seconds: int | None = None  # ANOMALY: the series' bucket
    for_seconds: int = 0
    cooldown_seconds: int = 0
    agent_id: uuid.UUID | None = _foreign_key("agents.id", ondelete="CASCADE", nullable=True)
    category: str | None = Field(default=None, max_length=32)
    source: str | None = Field(default=None, max_length=32)
    all_users: bool = Field(default=False)
    channels: list[dict[str, Any]] = _json(default=list)
    secret: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    secret_key_id: str | None = Field(default=None, max_length=32)
    enabled: bool = Field(default=True)
    state: str = Field(default="ok", max_length=16)
    state_version: int = Field(default=0)
    # Since when the condition has held (PENDING and FIRING); None in OK and RESOLVED.
    pending_since: datetime | None = _optional_timestamp()
    last_notified_at: datetime | None = _optional_timestamp()
    last_value: float | None = None
    last_evaluated_at: datetime | None = _optional_timestamp()
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class AlertHistory(SQLModel, table=True):
    """One change of a rule's state; `notified` says whether its channels were told."""

    __tablename__ = "alert_history"
    __table_args__ = (Index("ix_alert_history_rule_at", "rule_id", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    rule_id: uuid.UUID = _foreign_key("alert_rules.id", ondelete="CASCADE", index=False)
    state: str = Field(max_length=16)
    previous_state: str = Field(max_length=16)
    value: float | None = None
    notified: bool = Field(default=False)
    at: datetime = _created_at()


class AlertDelivery(SQLModel, table=True):
    """One notification sent to one channel: how many attempts, the last status, the error."""

    __tablename__ = "alert_deliveries"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    rule_id: uuid.UUID | None = _foreign_key("alert_rules.id", ondelete="CASCADE", nullable=True)
    schedule_id: uuid.UUID | None = _foreign_key(
        "report_schedules.id", ondelete="CASCADE", nullable=True
    )
    channel: str = Field(max_length=16)
    target: str = Field(max_length=2048)
    attempts: int
    status_code: int | None = None
    ok: bool
    error: str | None = Field(default=None, max_length=500)
    at: datetime = _created_at()


class ReportSchedule(SQLModel, table=True):
    """An export (an AnalyticsQuery + format) run on a cron schedule and delivered.

    `query` is the AnalyticsQuery as given; each run moves its range to end at the run time,
    keeping its length (resolvers/report_schedules.py). `secret` as in AlertRule.
    """

    __tablename__ = "report_schedules"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: uuid.UUID = _foreign_key("users.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    cron: str = Field(max_length=128)
    query: dict[str, Any] = _json(default=dict)
    format: str = Field(max_length=16)
    channels: list[dict[str, Any]] = _json(default=list)
    secret: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    secret_key_id: str | None = Field(default=None, max_length=32)
    next_run_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    last_run_at: datetime | None = _optional_timestamp()
    created_at: datetime = _created_at()
