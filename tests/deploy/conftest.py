"""The scale-out stack: two `consciousness serve` processes on PostgreSQL + Redis, each with
its own DATA_DIR, behind Debian's nginx running deploy/nginx.conf. Debian's promtool, and a
real /metrics, for the alert rules and the Grafana dashboard.

`make test` installs nginx and promtool (tests/deploy/setup.sh, as root); when one is missing
its tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_DATABASE_URL, _recreate_database, unavailable
from tests.deploy.balancer import load_balancer, nginx_binary
from tests.deploy.exported import Exported, scrape_after_traffic
from tests.servers import embedded_env, start_server, stop_server

CONSCIOUSNESS = str(Path(sys.executable).parent / "consciousness")
PASSWORD = "correct horse battery staple"


@dataclass
class Backend:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")


@dataclass
class Stack:
    balancer: str  # nginx's URL
    backends: list[Backend]
    database_url: str
    env: dict[str, str]
    workdir: Path

    def create_user(self) -> str:
        """A new ENTERPRISE user (no processing rate limit), made by the CLI; its name."""
        name = f"scale{uuid.uuid4().hex[:10]}"
        argv = [CONSCIOUSNESS, "create-user", "--username", name, "--email",
                f"{name}@example.org", "--tier", "ENTERPRISE", "--password-stdin"]  # fmt: skip
        done = subprocess.run(
            argv, env=self.env, cwd=self.workdir, input=PASSWORD + "\n", capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return name


def _migrate(env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run(
        [CONSCIOUSNESS, "migrate"], env=env, cwd=workdir, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str
) -> Iterator[Stack]:
    """nginx in front of two processes sharing a database of their own and a Redis prefix."""
    nginx = nginx_binary()
    if nginx is None:
        unavailable("nginx is not installed: `apt-get install nginx` (as root)")
    assert nginx is not None
    root = tmp_path_factory.mktemp("scale-out")
    name = f"consciousness_scale_{uuid.uuid4().hex[:12]}"
    asyncio.run(_recreate_database(ADMIN_DATABASE_URL, name, create=True))
    database_url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    data_key = base64.b64encode(secrets.token_bytes(32)).decode()
    shared = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"scale:{uuid.uuid4().hex[:8]}:",
        "DATA_ENCRYPTION_KEYS": f"scale:{data_key}",  # one key: each reads the other's rows
        "ETHICS_SEMANTIC_GUARD": "false",
        "PYTHONUNBUFFERED": "1",  # request log lines reach server.log as they happen
    }
    secret = secrets.token_urlsafe(48)
    envs = [embedded_env(root / n, JWT_SECRETS=secret, **shared) for n in ("a", "b")]
    backends: list[Backend] = []
    try:
        (root / "a").mkdir()
        _migrate(envs[0], root / "a")  # once, before either serves
        for index, n in enumerate(("a", "b")):
            process, url = start_server(root / n, envs[index])
            backends.append(Backend(url, process, root / n / "server.log"))
        with load_balancer(nginx, [b.address for b in backends], root / "nginx") as url:
            yield Stack(url, backends, database_url, envs[0], root / "a")
    finally:
        for backend in backends:
            stop_server(backend.process)
        asyncio.run(_recreate_database(ADMIN_DATABASE_URL, name, create=False))


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (the prometheus package)."""
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not installed: `apt-get install prometheus` (as root)")
    assert found is not None
    return found


@pytest.fixture
async def exported(client: httpx.AsyncClient) -> Exported:
    """The sample names and labels of the app's /metrics, every family present."""
    return await scrape_after_traffic(client)
