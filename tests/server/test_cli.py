"""The `consciousness` command: clear one-line failures, create-user, export-schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from db.models import User
from db.session import Database
from schema.schema import export_sdl
from server.cli import main
from tests.conftest import TEST_ANALYTICS_URL
from tests.servers import embedded_env, serve


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


def test_several_workers_need_a_qdrant_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://127.0.0.1:1")  # checked before any connection
    code, _, err = _run(["serve", "--workers", "2"], capsys)
    assert code == 2
    assert "--workers 2 needs QDRANT_URL" in err


def test_several_workers_need_a_clickhouse_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chdb: URL names the embedded store, which one process alone can open."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    code, _, err = _run(["serve", "--workers", "2"], capsys)
    assert code == 2
    assert "--workers 2 needs CLICKHOUSE_URL" in err


@pytest.mark.parametrize(
    ("environment", "missing"),
    [
        ({}, "CLICKHOUSE_URL"),
        ({"CLICKHOUSE_URL": "http://127.0.0.1:1"}, "QDRANT_URL"),
    ],
)
def test_writing_elsewhere_needs_servers_for_both_stores(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    missing: str,
) -> None:
    """With the embedded stores no other process could drain this one's rows."""
    monkeypatch.setenv("BACKGROUND_WRITERS", "false")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    code, _, err = _run(["serve"], capsys)
    assert code == 2
    assert f"configuration error: BACKGROUND_WRITERS=false needs {missing}" in err
    assert "Traceback" not in err


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

    user = asyncio.run(load())
    assert user is not None
    assert user.roles == ["super_admin"]
    assert user.password_hash.startswith("$argon2")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--role", "pope"],
            "--role 'pope' is not one of USER, DEVELOPER, RESEARCHER, ADMIN, SUPER_ADMIN",
        ),
        (["--tier", "gold"], "--tier 'gold' is not one of BASIC, ADVANCED, ENTERPRISE, RESEARCH"),
    ],
)
def test_create_user_rejects_unknown_role_or_tier_listing_the_choices(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(["create-user", "--username", "u", "--email", "u@e.org", *argv], capsys)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("role", "tier", "stored"),
    [
        ("ADMIN", "ENTERPRISE", "admin"),
        ("admin", "research", "admin"),
        ("Super_Admin", "Basic", "super_admin"),
    ],
)
def test_create_user_accepts_the_graphql_and_the_stored_spelling(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    role: str,
    tier: str,
    stored: str,
) -> None:
    monkeypatch.setattr("sys.stdin", _Lines("a long enough password\n"))
    argv = ["create-user", "--username", "boss", "--email", "boss@example.org"]
    code, _, err = _run([*argv, "--role", role, "--tier", tier, "--password-stdin"], capsys)
    assert code == 0, err
    user = asyncio.run(_first_user(tmp_path))
    assert user is not None
    assert user.roles == [stored]
    assert user.tier == tier.lower()


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_create_user_without_a_terminal_says_how_to_pass_the_password(
    tmp_path: Path, stdin: str
) -> None:
    command = [str(Path(sys.executable).parent / "consciousness"), "create-user"]
    command += ["--username", "u", "--email", "u@example.org"]
    result = subprocess.run(
        command,
        env=embedded_env(tmp_path),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL if stdin == "devnull" else None,
        preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None,
        start_new_session=True,  # no controlling terminal: /dev/tty cannot be opened
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no terminal to ask for the password")
    assert "--password-stdin" in result.stderr


def test_create_user_works_beside_a_running_server(tmp_path: Path) -> None:
    """The server holds the embedded chDB store; create-user must not need it."""
    env = embedded_env(tmp_path)
    with serve(tmp_path, env) as (url, _process):
        command = [str(Path(sys.executable).parent / "consciousness"), "create-user"]
        command += ["--username", "admin", "--email", "admin@example.org", "--role", "ADMIN"]
        result = subprocess.run(
            [*command, "--password-stdin"],
            env=env,
            cwd=tmp_path,
            input="a long enough password\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "created user admin" in result.stdout
        login = """mutation { login(username: "admin", password: "a long enough password")
          { user { roles } } }"""
        body = httpx.post(f"{url}/graphql", json={"query": login}, timeout=30).json()
        assert body["data"]["login"]["user"]["roles"] == ["ADMIN"], body
        # `serve` printed its URLs once it listened
        log = tmp_path / "server.log"
        deadline = time.monotonic() + 10
        while "Consciousness API is running" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert f"{url}/graphql" in log.read_text()
        assert log.read_text().count("Consciousness API is running") == 1


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


async def _first_user(tmp_path: Path) -> User | None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'consciousness.db'}")
    try:
        async with database.session() as session:
            return (await session.exec(select(User))).first()
    finally:
        await database.close()
