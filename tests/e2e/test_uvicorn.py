"""The real server under uvicorn, started by `consciousness serve`, over HTTP and websockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`consciousness serve` on a free port, with embedded stores in a temporary directory."""
    workdir = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS"}
    }
    env["DATA_DIR"] = str(workdir / "data")
    log = (workdir / "server.log").open("w")
    command = [Path(sys.executable).parent / "consciousness", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {(workdir / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start: {(workdir / 'server.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_http_query_answers(server_url: str) -> None:
    response = httpx.post(
        f"{server_url}/graphql", json={"query": "{ systemHealth { status } }"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"systemHealth": {"status": "OK"}}}


def test_get_query_answers(server_url: str) -> None:
    response = httpx.get(
        f"{server_url}/graphql",
        params={"query": "{ systemStatus { version } }"},
        headers={"accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["data"]["systemStatus"]["version"] == "0.1.0"


def test_migrations_ran_on_start(server_url: str) -> None:
    response = httpx.get(f"{server_url}/ready", timeout=10)
    assert response.status_code == 200
    assert response.json()["failing"] == []


async def test_graphql_transport_ws_protocol(server_url: str) -> None:
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "{ systemHealth { status } }"},
                }
            )
        )
        message = json.loads(await ws.recv())
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"systemHealth": {"status": "OK"}}},
        }
        assert json.loads(await ws.recv()) == {"id": "1", "type": "complete"}


async def test_legacy_graphql_ws_protocol(server_url: str) -> None:
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "start", "payload": {"query": "{ systemStatus { version } }"}}
            )
        )
        message = json.loads(await ws.recv())
        # The legacy protocol carries subscriptions only; a query is the client's mistake.
        assert message["type"] == "error"
        assert message["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
        assert message["payload"]["message"] == "query operations are not allowed on this transport"
