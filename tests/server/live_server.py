"""`consciousness serve` as a subprocess on a free port, for tests of the whole process."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def embedded_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """The environment without store URLs: embedded stores under `workdir`/data."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS"}
    }
    env |= {"DATA_DIR": str(workdir / "data"), "JWT_SECRETS": secrets.token_urlsafe(48)}
    return env | overrides


@contextmanager
def serve(workdir: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`consciousness serve` on a free port, ready; killed on the way out if still running.

    Its output is appended to `workdir`/server.log.
    """
    port = free_port()
    command = [str(Path(sys.executable).parent / "consciousness"), "serve", "--port", str(port)]
    with (workdir / "server.log").open("ab") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, (workdir / "server.log").read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (workdir / "server.log").read_text()
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
