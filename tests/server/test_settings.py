"""Settings: embedded defaults, the development secret, and one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigurationError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


def test_no_configuration_means_embedded_stores(tmp_path: Path) -> None:
    settings = load_settings()
    assert (
        settings.resolved_database_url
        == f"sqlite+aiosqlite:///{tmp_path / 'data'}/consciousness.db"
    )
    assert settings.resolved_clickhouse_url == f"chdb://{tmp_path / 'data' / 'analytics'}"
    assert settings.uses_in_process_stores


def test_development_secret_is_generated_once_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = load_settings().signing_secrets()
    assert "JWT_SECRETS is not set" in caplog.text
    second = load_settings().signing_secrets()
    assert first == second
    assert len(first[0]) >= 32
    assert (tmp_path / "data" / "jwt_secret").stat().st_mode & 0o777 == 0o600


def test_production_without_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="JWT_SECRETS must be set in production"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL: unsupported driver 'mysql'"),
        ("DATABASE_URL", ":::", "DATABASE_URL: not a database URL"),
        ("REDIS_URL", "http://cache", "REDIS_URL: must start with redis://"),
        ("CLICKHOUSE_URL", "ftp://x", "CLICKHOUSE_URL: must start with"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: Input should be"),
        ("ENVIRONMENT", "staging", "ENVIRONMENT: Input should be"),
        ("ACCESS_TOKEN_TTL_SECONDS", "-5", "ACCESS_TOKEN_TTL_SECONDS: Input should be greater"),
        ("JWT_SECRETS", "short", "JWT_SECRETS: each secret needs 32+ bytes"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert str(raised.value).startswith("configuration error: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_short_urls_are_normalised_to_async_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("JWT_SECRETS", "n" * 32 + "," + "o" * 32)
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.signing_secrets() == ["n" * 32, "o" * 32]
