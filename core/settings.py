"""Every setting of the server, read once from the environment (and `.env`)."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.data_keys import data_keys, parse_data_key

log = logging.getLogger(__name__)

DATABASE_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
JWT_SECRET_FILE = "jwt_secret"  # noqa: S105  (a file name, not a secret)
MIN_JWT_SECRET_BYTES = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class TracingExporter(StrEnum):
    NONE = "none"  # no tracer provider, no instrumentation: tracing costs nothing
    CONSOLE = "console"  # spans printed as JSON on stdout (development)
    OTLP = "otlp"  # OTLP over HTTP/protobuf to OTLP_ENDPOINT


class SmtpSecurity(StrEnum):
    NONE = "none"  # plain SMTP (a relay on localhost)
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS (SMTPS, usually port 465)


class ConfigurationError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Server configuration. Each field is read from the upper-case env var of its name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("data")
    database_url: str = ""
    redis_url: str = ""
    redis_key_prefix: str = "consciousness:"
    clickhouse_url: str = ""
    # Session embeddings (db/vectors.py): empty, qdrant-client's local mode in DATA_DIR/vectors.
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    vector_retention_days: int = Field(default=90, ge=1, le=3650)
    jwt_secrets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jwt_algorithm: str = "HS256"
    # Encryption at rest of session texts (db/crypto.py): `id:base64-of-32-bytes`, comma-separated.
    data_encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    data_encryption_key_id: str = ""  # the key that seals new values; empty: the first listed
    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: LogLevel = LogLevel.INFO
    max_query_bytes: int = Field(default=100_000, gt=0)
    # GraphQL abuse limits (schema/limits.py, schema/cost.py): checked before execution.
    max_query_depth: int = Field(default=12, ge=1, le=1000)
    max_query_aliases: int = Field(default=30, ge=0)
    max_query_tokens: int = Field(default=5000, gt=0)
    max_query_cost: int = Field(default=5000, gt=0)
    # Query cost each tier may spend in any hour (0: unlimited); anonymous calls per client IP.
    query_cost_budget_basic: int = Field(default=100_000, ge=0)
    query_cost_budget_advanced: int = Field(default=1_000_000, ge=0)
    query_cost_budget_research: int = Field(default=1_000_000, ge=0)
    query_cost_budget_enterprise: int = Field(default=0, ge=0)
    query_cost_budget_anonymous: int = Field(default=20_000, ge=0)
    # Documents too long for the parse cache, KB per caller and minute (document_budget.py).
    large_document_kb_per_minute: int = Field(default=1_000, ge=0)
    # A RATE_LIMITED answer over HTTP waits this long before it is sent (server/refusal_hold.py)
    rate_limited_hold_seconds: float = Field(default=1.0, ge=0, le=10)  # 0: sent at once
    rate_limited_max_held: int = Field(default=256, ge=0)  # answers held at once, at most
    introspection_enabled: bool = True
    max_query_introspections: int = Field(default=2, ge=0)  # __schema/__type per operation
    # Wall time an operation may run (schema/time_limit.py); 0: no limit. Subscriptions: none.
    operation_time_limit_seconds: float = Field(default=30.0, ge=0)  # signed-in callers
    operation_time_limit_anonymous_seconds: float = Field(default=3.0, ge=0)
    # HTTP hardening (server/security.py).
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    csrf_prevention: bool = True
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"]
    )
    keep_alive_timeout_seconds: int = Field(default=5, gt=0, le=300)
    # Persisted operations (server/persisted.py): Apollo APQ, and an optional allow-list.
    persisted_queries_enabled: bool = True
    persisted_query_cache_bytes: int = Field(default=16 * 1024 * 1024, gt=0)  # APQ text, LRU
    persisted_query_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    persisted_operations_file: Path | None = None  # JSON {sha256 hex: document}
    persisted_operations_only: bool = False
    max_input_chars: int = Field(default=20_000, gt=0)
    # OTLP trace ingestion at /v1/traces (server/otlp.py, resolvers/ingestion.py).
    otlp_max_spans_per_request: int = Field(default=1000, gt=0)
    ingest_queue_max_spans: int = Field(default=10_000, gt=0)
    ingest_worker: bool = True  # false: this process only queues; others analyse
    # false: this process stages metrics rows and sessions to embed; others write them
    # (needs ClickHouse and Qdrant servers: server/startup.py check_writers).
    background_writers: bool = True
    # The ethics stage's semantic layer (db/guard_model.py): loaded once at start-up
    # (about 1 s, 170 MB with the contextual stage); off, rules and detectors only.
    ethics_semantic_guard: bool = True
    # Its contextual stage (MiniLM, db/guard_encoder.py): off, the static layer alone, which
    # keeps the engine within 5 ms per 1 KB (docs/engine-guard.md) and saves ~100 MB.
    ethics_contextual_stage: bool = True
    engine_processes: int = Field(default=1, ge=0, le=64)  # server/engine_processes.py
    # Unset: decided by a serving process from its cores (server/engine_processes.py).
    engine_process_min_bytes: int | None = Field(default=None, gt=0)
    # How many serving processes share this host's cores: `serve --workers N` sets N.
    serving_processes: int = Field(default=1, ge=1)
    db_pool_size: int = Field(default=40, gt=0)  # a fixed pool: db/session.py says why
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    registration_enabled: bool = True
    registrations_per_ip_per_hour: int = Field(default=20, ge=0)  # 0: no limit
    # Anomalies in authentication (resolvers/anomalies.py); a threshold of 0 turns one off.
    auth_anomaly_window_seconds: int = Field(default=600, ge=1)
    auth_anomaly_failed_usernames: int = Field(default=10, ge=0)  # per address, in the window
    auth_anomaly_registrations_per_minute: int = Field(default=10, ge=0)  # per address
    auth_anomaly_token_ip_seconds: int = Field(default=60, ge=0)
    auth_block_seconds: int = Field(default=900, ge=1)
    playground_enabled: bool = True
    dashboard_enabled: bool = True  # the live dashboard page at /dashboard
    analytics_retention_days: int = Field(default=90, ge=1, le=3650)  # table TTL
    analytics_batch_size: int = Field(default=1000, gt=0, le=100_000)  # rows per insert
    analytics_flush_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    analytics_export_ttl_seconds: int = Field(default=300, gt=0, le=3600)
    # Language-model responders (an agent's `responder` configuration section). The key is
    # sent as a Bearer token, and only to a base URL listed in LLM_ALLOWED_BASE_URLS: an
    # agent owner chooses base_url, so without the list they could point the server (and
    # its key) at any host. Empty list: every agent uses the offline reflective responder.
    llm_api_key: str = ""
    llm_allowed_base_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    llm_timeout_seconds: float = Field(default=20.0, gt=0)
    # Websockets: subscribers of one process with the same operation, variables and
    # principal share one execution per event (server/fanout.py); how often an open
    # socket's token is checked for revocation; how long shutdown lets queued frames drain.
    subscription_grouping: bool = True
    websocket_token_check_seconds: float = Field(default=30.0, gt=0, le=3600)
    websocket_drain_seconds: float = Field(default=5.0, ge=0, le=60)
    websocket_compression: bool = False  # permessage-deflate (uvicorn's ws_per_message_deflate)
    # Websocket caps (server/ws_admission.py; docs/live.md says why these defaults). Sockets
    # per user, and per client address for those not (yet) signed in, across every process
    # sharing Redis (0: no cap); operations in flight per socket; the connection_init wait.
    websockets_per_user: int = Field(default=20, ge=0)
    websockets_per_ip: int = Field(default=100, ge=0)
    subscriptions_per_socket: int = Field(default=20, ge=1, le=1000)
    connection_init_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # Observability (server/observability.py, server/tracing.py, server/metrics.py).
    log_format: LogFormat = LogFormat.TEXT
    tracing_exporter: TracingExporter = TracingExporter.NONE
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"  # OTLP/HTTP traces endpoint
    tracing_service_name: str = "consciousness-api"
    tracing_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    metrics_enabled: bool = True
    # /metrics answers only callers that pass every configured check: the bearer token when
    # METRICS_TOKEN is set, a client address inside METRICS_ALLOWED_NETWORKS when that is set.
    metrics_token: str = ""
    metrics_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"]
    )
    # Alerts and scheduled reports (resolvers/alert_evaluator.py): one evaluator per
    # deployment (a Redis lease elects it); webhooks and email go out through outbound/.
    alerts_enabled: bool = True  # false: this process never evaluates (it still serves the API)
    alert_evaluation_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    webhook_allow_private_networks: bool = False  # loopback, RFC 1918, link-local, ...
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=4, ge=1, le=10)
    webhook_backoff_seconds: float = Field(default=1.0, ge=0, le=60)  # doubled per retry
    smtp_host: str = ""  # empty: email channels are refused
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "alerts@localhost"
    report_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)  # one scheduled export
    shutdown_grace_seconds: int = Field(default=30, gt=0, le=3600)  # uvicorn takes whole seconds

    @field_validator(
        "jwt_secrets",
        "data_encryption_keys",
        "cors_origins",
        "llm_allowed_base_urls",
        "metrics_allowed_networks",
        "forwarded_allow_ips",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        driver = DATABASE_DRIVERS.get(url.drivername)
        if driver is None:
            raise ValueError(
                f"unsupported driver {url.drivername!r}; use postgresql+asyncpg:// or sqlite:///"
            )
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("metrics_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {network!r}") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://", "clickhouse://", "chdb:")):
            raise ValueError("must start with http://, https://, clickhouse:// or chdb:")
        return value

    @model_validator(mode="after")
    def _allow_list_needs_a_file(self) -> Settings:
        if self.persisted_operations_only and self.persisted_operations_file is None:
            raise ValueError(
                "PERSISTED_OPERATIONS_ONLY needs PERSISTED_OPERATIONS_FILE (the allow-list)"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION and not self.jwt_secrets:
            raise ValueError(
                "JWT_SECRETS must be set in production (comma-separated, newest first)"
            )
        for secret in self.jwt_secrets:
            if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
                raise ValueError(f"JWT_SECRETS: each secret needs {MIN_JWT_SECRET_BYTES}+ bytes")
        return self

    @field_validator("data_encryption_keys")
    @classmethod
    def _data_keys(cls, value: list[str]) -> list[str]:
        ids = [parse_data_key(entry)[0] for entry in value]
        if len(set(ids)) != len(ids):
            raise ValueError("each key id may appear once")
        return value

    @model_validator(mode="after")
    def _data_key_is_known(self) -> Settings:
        if self.environment is Environment.PRODUCTION and not self.data_encryption_keys:
            raise ValueError(
                "DATA_ENCRYPTION_KEYS must be set in production (id:base64 of 32 bytes, ...)"
            )
        ids = [parse_data_key(entry)[0] for entry in self.data_encryption_keys]
        if self.data_encryption_key_id and self.data_encryption_key_id not in ids:
            raise ValueError(
                f"DATA_ENCRYPTION_KEY_ID {self.data_encryption_key_id!r} is not a key id of "
                "DATA_ENCRYPTION_KEYS"
            )
        return self

    def data_keys(self) -> tuple[str, dict[str, bytes]]:
        """The current data key's id and every data key by id (core/data_keys.py)."""
        return data_keys(self.data_encryption_keys, self.data_encryption_key_id, self.data_dir)

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under the data dir."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'consciousness.db'}"

    @property
    def resolved_clickhouse_url(self) -> str:
        """The configured ClickHouse, or the embedded chDB directory under the data dir."""
        return self.clickhouse_url or f"chdb://{(self.data_dir / 'analytics').resolve()}"

    @property
    def embedded_analytics(self) -> bool:
        """True when analytics is chDB, in this process, rather than a ClickHouse server."""
        return not self.clickhouse_url or self.clickhouse_url.startswith("chdb:")

    @property
    def vectors_path(self) -> Path:
        """Where local mode keeps the session embeddings (unused with QDRANT_URL)."""
        return self.data_dir / "vectors"

    @property
    def uses_in_process_stores(self) -> bool:
        """True when some store lives inside this process and so cannot be shared by workers."""
        return not self.redis_url or not self.qdrant_url

    def signing_secrets(self) -> list[str]:
        """The JWT secrets, newest first; in development one is generated and kept in data_dir."""
        if self.jwt_secrets:
            return list(self.jwt_secrets)
        path = self.data_dir / JWT_SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
            log.warning(
                "JWT_SECRETS is not set: generated a development secret in %s. "
                "Set JWT_SECRETS in production.",
                path,
            )
        return [path.read_text().strip()]


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one line per bad env var."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per error, naming the environment variable that carries the bad value."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if not field:
            lines.append(f"configuration error: {message}")
        else:
            lines.append(f"configuration error: {field.upper()}: {message}")
    return "\n".join(lines)
