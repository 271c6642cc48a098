"""`consciousness serve` as a subprocess on a free port: how every whole-process test starts one."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

STARTUP_SECONDS = 60
STOP_SECONDS = 30
WORKER_SECONDS = 60  # the engine worker starts beside the rest of start-up, loads the guard
STORE_SETTINGS = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "CLICKHOUSE_URL",
        "JWT_SECRETS",
        "DATA_ENCRYPTION_KEYS",
        "DATA_ENCRYPTION_KEY_ID",
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def embedded_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """This environment without store URLs: embedded stores under `workdir`/data."""
    env = {key: value for key, value in os.environ.items() if key not in STORE_SETTINGS}
    env |= {"DATA_DIR": str(workdir / "data"), "JWT_SECRETS": secrets.token_urlsafe(48)}
    # One test process registers more users from 127.0.0.1 than any person would.
    env["REGISTRATIONS_PER_IP_PER_HOUR"] = "0"
    env["AUTH_ANOMALY_REGISTRATIONS_PER_MINUTE"] = "0"
    env["AUTH_ANOMALY_FAILED_USERNAMES"] = "0"  # the fuzzing signs in as anyone
    env["RATE_LIMITED_HOLD_SECONDS"] = "0"  # the fuzzing is refused often, on purpose
    return env | overrides


def engine_worker(server: subprocess.Popen[bytes]) -> psutil.Process:
    """The server's spawned engine worker, once it runs."""
    deadline = time.monotonic() + WORKER_SECONDS
    while time.monotonic() < deadline:
        for child in psutil.Process(server.pid).children():
            if "spawn_main" in " ".join(child.cmdline()):
                return child
        time.sleep(0.2)
    raise AssertionError("the server started no engine worker process")


def start_server(
    workdir: Path,
    env: dict[str, str],
    *,
    ready_path: str = "/health",
    startup_seconds: float = STARTUP_SECONDS,
    own_process_group: bool = False,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start it and wait until `ready_path` answers 200; its output goes to workdir/server.log.
    `own_process_group`: in a session of its own, so that a signal to its group (a terminal's
    Ctrl-C) reaches it and its children, and not the tests."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [str(Path(sys.executable).parent / "consciousness"), "serve", "--port", str(port)]
    with (workdir / "server.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=own_process_group,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited: {(workdir / 'server.log').read_text()}")
        try:
            if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            pytest.fail(f"server did not start: {(workdir / 'server.log').read_text()}")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it is still running after STOP_SECONDS."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(
    workdir: Path, env: dict[str, str], *, ready_path: str = "/health"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A started server for the block; stopped on the way out if it is still running."""
    process, url = start_server(workdir, env, ready_path=ready_path)
    try:
        yield url, process
    finally:
        stop_server(process)
