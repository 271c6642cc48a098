"""The `consciousness` command: clear one-line failures, create-user, export-schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from db.models import User
from db.session import Database
from schema.schema import export_sdl
from server.cli import main
from tests.conftest import TEST_ANALYTICS_URL


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRETS", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JWT_SECRETS", "s" * 40)
    monkeypatch.setenv("CLICKHOUSE_URL", TEST_ANALYTICS_URL)  # one chDB path per process


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_unreachable_database_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test")
    code, _, err = _run(["migrate"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("configuration error: DATABASE_URL: the database store")
    assert "Traceback" not in err


def test_bad_setting_fails_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    code, _, err = _run(["serve"], capsys)
    assert code == 2
    assert err.strip().startswith("configuration error: LOG_LEVEL:")


def test_several_workers_need_shared_stores(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["serve", "--workers", "2"], capsys)
    assert code == 2
    assert "--workers 2 needs REDIS_URL" in err


def test_create_user_hashes_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", _Lines("a long enough password\n"))
    argv = [
        "create-user",
        "--username",
        "Root",
        "--email",
        "root@example.org",
        "--role",
        "super_admin",
        "--password-stdin",
    ]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "created user root" in out

    async def load() -> User | None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'consciousness.db'}")
        try:
            async with database.session() as session:
                return (await session.exec(select(User))).first()
        finally:
            await database.close()

    import asyncio

    user = asyncio.run(load())
    assert user is not None
    assert user.roles == ["super_admin"]
    assert user.password_hash.startswith("$argon2")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "pope"], "'pope' is not a valid Role"),
        (["--tier", "gold"], "'gold' is not a valid Tier"),
    ],
)
def test_create_user_rejects_unknown_role_or_tier(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(["create-user", "--username", "u", "--email", "u@e.org", *argv], capsys)
    assert code == 2
    assert message in err


def test_create_user_enforces_password_policy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Lines("short\n"))
    argv = ["create-user", "--username", "u", "--email", "u@e.org", "--password-stdin"]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert "at least 10 characters" in err


def test_export_schema_prints_the_sdl(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["export-schema"], capsys)
    assert code == 0
    assert out == export_sdl()


class _Lines:
    def __init__(self, text: str) -> None:
        self._lines = iter(text.splitlines(keepends=True))

    def readline(self) -> str:
        return next(self._lines, "")
