"""Graceful shutdown: SIGTERM closes open websockets with 1001 going away, then exits cleanly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from core.settings import Settings
from server.app import create_app
from server.graphql_app import GraphQLApp
from tests.apps import serving
from tests.conftest import empty_tables
from tests.live.client import Socket, register
from tests.live.conftest import _start_server

AGENT_EVENTS = "subscription { agentEvents(since: 0) { sequence kind } }"  # no race: replays
EXIT_SECONDS = 20


async def _close_code(socket: Socket) -> int | None:
    try:
        while True:
            await asyncio.wait_for(socket.ws.recv(), EXIT_SECONDS)
    except ConnectionClosed:
        return socket.ws.close_code


async def test_sigterm_closes_websockets_with_going_away(tmp_path: Path) -> None:
    process, url = _start_server(tmp_path, {})
    try:
        user = await register(url)
        sockets = [
            await Socket.open(url, user.token, "graphql-transport-ws"),
            await Socket.open(url, user.token, "graphql-ws"),
        ]
        for socket in sockets:
            await socket.subscribe("events", AGENT_EVENTS)
        await user.create_agent()  # the subscriptions are live
        for socket in sockets:
            assert (await socket.data("agentEvents"))["kind"] == "CREATED"
        process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(_close_code(socket) for socket in sockets))
        assert codes == [1001, 1001]
        await asyncio.to_thread(process.wait, EXIT_SECONDS)
        log = (tmp_path / "server.log").read_text()
        # uvicorn re-raises the signal it handled once shut down, so SIGTERM is the status.
        assert process.returncode in {0, -signal.SIGTERM}, log
        assert "Application shutdown complete" in log
        assert "Finished server process" in log
        assert "Traceback" not in log, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_socket_whose_operations_do_not_stop_still_gets_going_away(
    settings: Settings, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown's goodbye waits for a socket's operations only so long: one that ignores
    its cancel would otherwise hold every socket's 1001, and the SIGTERM behind it, back."""
    monkeypatch.setattr("server.websockets.STOP_OPERATIONS_SECONDS", 0.2)
    app = create_app(settings)
    view = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), GraphQLApp))
    async with serving(app) as (url, started):
        user = await register(url)
        socket = await Socket.open(url, user.token, protocol)
        (handler,) = view.connections

        async def never_stop() -> None:
            await asyncio.Event().wait()

        monkeypatch.setattr(handler, "cancel_operations", never_stop)
        closing = asyncio.create_task(view.close_websockets())
        assert await _close_code(socket) == 1001
        assert await asyncio.wait_for(closing, EXIT_SECONDS) == 1
        await empty_tables(started.state.stores)


async def test_a_handshake_during_shutdown_is_refused_with_503(settings: Settings) -> None:
    """503, not the 403 of a plain close: a load balancer passes a 503 on to another process
    (deploy/nginx.conf), so a subscriber resuming after its 1001 lands on a live one."""
    app = create_app(settings)
    view = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), GraphQLApp))
    async with serving(app) as (url, started):
        await view.close_websockets()
        with pytest.raises(InvalidStatus) as refused:
            await connect(url.replace("http", "ws") + "/graphql",
                          subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]  # fmt: skip
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["retry-after"] == "1"
        await empty_tables(started.state.stores)
