"""The fan-out benchmark's load generator: client processes holding websocket subscribers.

bench/fanout_bench.py starts `--clients` of them per row (`Clients`), each running this file:
it opens its share of sockets (plain websockets to the relays, graphql-transport-ws
subscriptions of `agentEvents` to the app), prints SUBSCRIBED, then WARM once every socket
had an event, records each delivery's latency (receive time minus the event's `timestamp`,
one clock: same machine) until it reads STOP, and answers with one JSON line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast

from processes import cpu_seconds

HANDSHAKES_IN_FLIGHT = 8  # per client process: 4 x 8 stays under redis-py's 100-connection pool
SUBSCRIPTION = (
    "subscription { agentEvents { sequence kind agentId ownerId status version timestamp } }"
)
CLIENT_SCRIPT = Path(__file__).resolve()
PLAIN, GRAPHQL = "plain", "graphql"  # what a client speaks: the relays' frames, or graphql-ws


class LeanSocket(asyncio.Protocol):
    """A websocket client as cheap as we can make it in Python: the load generator.

    websockets' sans-I/O protocol (handshake, framing, answering the server's pings) driven
    straight from the transport's callbacks, with no task, queue or future per message: the
    library's asyncio client spent ~100 us of CPU per message, twice the server's, on the
    same two cores. Messages go to `on_message`, except the one `expect_message()` asked for.
    """

    def __init__(self, url: str, subprotocols: list[str], on_message: Any) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.protocol = ClientProtocol(
            parse_uri(url),
            subprotocols=subprotocols or None,  # type: ignore[arg-type]
            max_size=None,
        )
        self.on_message = on_message
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[Exception | None] = loop.create_future()  # with why
        self._waiter: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                error = self.protocol.handshake_exc
                if not self.opened.done():
                    self.opened.set_exception(error) if error else self.opened.set_result(None)
            elif isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                if self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result(bytes(event.data))
                else:
                    self.on_message(event.data)
        self._flush()  # pongs, and the closing handshake

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self._waiter):
            if future is not None and not future.done():
                future.set_exception(exc or ConnectionError("closed"))
        self.closed.set_result(exc)

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    def expect_message(self) -> asyncio.Future[bytes]:
        """The next message, instead of `on_message` (ask before sending what it answers)."""
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        assert self.transport is not None
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()


async def open_socket(url: str, kind: str, token: str, on_message: Any) -> LeanSocket:
    from websockets.exceptions import InvalidHandshake
    from websockets.uri import parse_uri

    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    for attempt in range(8):
        current: LeanSocket | None = None  # this attempt's socket, once connected
        try:
            _, opened = await asyncio.wait_for(
                loop.create_connection(
                    lambda: LeanSocket(
                        url, [] if kind == PLAIN else ["graphql-transport-ws"], on_message
                    ),
                    uri.host,
                    uri.port,
                ),
                60,
            )
            current = opened
            await asyncio.wait_for(opened.opened, 60)
            if kind == PLAIN:
                return opened
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            answer = opened.expect_message()
            opened.send_text(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(answer, 60))
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            payload = {"query": SUBSCRIPTION}
            opened.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            return opened
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            # a full accept backlog, or a server too busy to finish the handshake: again,
            # on a new socket (this one would deliver to the same receiver too)
            if current is not None:
                current.on_message = lambda _frame: None
                current.close()
            if attempt == 7:
                raise
            print(f"retrying a connection: {exc!r}", file=sys.stderr, flush=True)
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def client_main(url: str, kind: str, count: int, token: str) -> None:
    """One client process: open `count` sockets, report, record deliveries until STOP."""
    import orjson

    latencies: list[tuple[int, float]] = []  # (sequence, milliseconds)
    errors: list[str] = []
    first_seen = 0
    stopping = False
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)

    def receiver() -> Any:
        """One socket's message handler: its latency sample, and WARM once all had one."""
        seen = False

        def on_message(frame: bytes) -> None:
            nonlocal seen, first_seen
            received = time.time()
            message = orjson.loads(frame)
            if message.get("type") != "next":
                errors.append(str(message)[:300])
                return
            payload = message["payload"]
            if payload.get("errors"):
                errors.append(str(payload["errors"])[:300])
                return
            event = payload["data"]["agentEvents"]
            published = dt.datetime.fromisoformat(event["timestamp"]).timestamp()
            latencies.append((event["sequence"], (received - published) * 1000))
            if not seen:
                seen = True
                first_seen += 1
                if first_seen == count:
                    print("WARM", flush=True)

        return on_message

    def lost(closed: asyncio.Future[Exception | None]) -> None:
        if not stopping:  # a dropped socket is a result, not a crash of the client
            errors.append(f"closed: {closed.result()!r}"[:300])

    async def open_one() -> LeanSocket:
        async with gate:
            opened = await open_socket(url, kind, token, receiver())
        opened.closed.add_done_callback(lost)
        return opened

    sockets = await asyncio.gather(*(open_one() for _ in range(count)))
    print("SUBSCRIBED", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()  # STOP
    stopping = True
    for opened in sockets:
        opened.close()
    sys.stdout.write(json.dumps({"latencies": latencies, "errors": errors[:20]}) + "\n")
    sys.stdout.flush()


class Clients:
    """The client processes of one row, driven through their stdin and stdout."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes

    @classmethod
    async def start(cls, url: str, kind: str, total: int, token: str, count: int) -> Clients:
        shares = [total // count + (1 if i < total % count else 0) for i in range(count)]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(CLIENT_SCRIPT),
                url,
                kind,
                str(share),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 30,
                env={**os.environ, "FANOUT_BENCH_TOKEN": token},
            )
            for share in shares
            if share
        ]
        return cls(processes)

    async def wait_for(self, word: str, seconds: float) -> None:
        async def one(process: asyncio.subprocess.Process) -> None:
            assert process.stdout is not None
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"a client process exited before {word}")
                if line.strip() == word.encode():
                    return

        await asyncio.wait_for(asyncio.gather(*(one(p) for p in self.processes)), seconds)

    async def stop(self) -> tuple[list[tuple[int, float]], list[str]]:
        latencies: list[tuple[int, float]] = []
        errors: list[str] = []
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(b"STOP\n")
            await process.stdin.drain()
        for process in self.processes:
            assert process.stdout is not None
            while True:
                line = await asyncio.wait_for(process.stdout.readline(), 120)
                if not line:
                    break
                if line.startswith(b"{"):
                    result = json.loads(line)
                    latencies.extend((int(s), float(ms)) for s, ms in result["latencies"])
                    errors.extend(result["errors"])
                    break
            await process.wait()
        return latencies, errors

    def cpu_seconds(self) -> float:
        """CPU used so far by every client process: they share the server's cores."""
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def kill(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    """One client process: `fanout_clients.py URL KIND COUNT`, the token in FANOUT_BENCH_TOKEN."""
    raise_fd_limit()
    url, kind, count = sys.argv[1:4]
    import uvloop  # as the servers' uvicorn: the load generator's own cost kept low

    uvloop.run(client_main(url, kind, int(count), os.environ.get("FANOUT_BENCH_TOKEN", "")))


if __name__ == "__main__":
    main()
