"""Fan-out of live events: N websocket subscribers on one server process, events at a fixed rate.

For each N (1,000 at 5 events/s and 10,000 at 1 event/s by default) the same clients meet,
one server at a time:

- `bare relay` (the baseline): bench/servers/fanout_relay.py, a bare Starlette websocket
  endpoint relaying the topic's Redis channel (one Redis subscription, a queue per socket);
- `ASGI floor`: the same relay as a raw ASGI app awaiting uvicorn's `send` for each socket
  in turn, no framework, task or queue: the least any ASGI app on uvicorn can spend per frame;
- `app` (and any `--app-variant`): `consciousness serve` on PostgreSQL (a fresh database) and
  Redis (a unique REDIS_KEY_PREFIX), every client subscribed over graphql-transport-ws to
  `agentEvents` of the same user (the owner's topic `user:<id>:agents`).

Events are published straight into the broker (db.pubsub.RedisBroker.publish, the same Lua
script, channel and stream the app's mutations use), so the figures isolate fan-out: no
mutation, no engine. Each payload is an agent event whose `timestamp` is the publish time;
a client's latency is its receive time minus that timestamp (one clock: same machine).
Clients run in `--clients` separate processes on uvloop, each socket websockets' sans-I/O
protocol driven from the transport's callbacks (LeanSocket): the load generator shares the
server's cores, so its CPU per message (`client`) is kept low and reported.

Per server: p50/p99/max latency over every delivery of the measured events, messages/s
delivered (and the share of the N x events expected), the server's CPU use while
publishing (cpu%) and its CPU time per delivered message from the first measured publish to
the end of the drain (us/msg: steadier than latency when neighbours steal the CPU), and
its RSS (VmRSS of /proc/<pid>/status) before any client, after every client subscribed and
sat idle, and at the end; `KB/sub` is (idle-subscribed - before) / N.
Ratios divide the app's p99 and messages/s by the bare relay's from the same run.

`--app-variant NAME:KEY=VALUE[,KEY=VALUE...]` (repeatable) adds a row of the app started with
extra environment, e.g. `--app-variant grouped:SUBSCRIPTION_GROUPING=true`.

Run from the repo root (needs PostgreSQL and Redis as in DESIGN.md §6):
`.venv/bin/python bench/fanout_bench.py [--subscribers 1000,10000] [--duration 20] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from figures import percentile
from processes import cpu_seconds, free_port

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"  # a throwaway benchmark user's
READY_TIMEOUT_SECONDS = 90.0
CONNECT_TIMEOUT_SECONDS = 300.0  # every client process connected and subscribed
WARMUP_TIMEOUT_SECONDS = 120.0  # every socket received a first event
IDLE_SETTLE_SECONDS = 3.0
DRAIN_SECONDS = 5.0
HANDSHAKES_IN_FLIGHT = 8  # per client process: 4 x 8 stays under redis-py's 100-connection pool
SUBSCRIPTION = (
    "subscription { agentEvents { sequence kind agentId ownerId status version timestamp } }"
)
RELAY, FLOOR, APP = "bare relay", "ASGI floor", "app"
RELAYS = {RELAY: "bench.servers.fanout_relay:app", FLOOR: "bench.servers.fanout_relay:floor"}


# ----------------------------------------------------------------------------- clients


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


async def _open_socket(url: str, kind: str, token: str, on_message: Any) -> LeanSocket:
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
                        url, [] if kind == RELAY else ["graphql-transport-ws"], on_message
                    ),
                    uri.host,
                    uri.port,
                ),
                60,
            )
            current = opened
            await asyncio.wait_for(opened.opened, 60)
            if kind == RELAY:
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


async def _client_main(url: str, kind: str, count: int, token: str) -> None:
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
            opened = await _open_socket(url, kind, token, receiver())
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


# ----------------------------------------------------------------------------- servers


def _raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[int]:
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        _wait_ready(process, ready_url, log)
        yield process.pid
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _register(http_url: str) -> tuple[str, str]:
    name = f"fanout{secrets.token_hex(4)}"
    query = "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }"
    variables = {"i": {"username": name, "email": f"{name}@example.org", "password": PASSWORD}}
    request = urllib.request.Request(
        f"{http_url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    data = body["data"]["register"]
    return data["accessToken"], data["user"]["id"]


# ----------------------------------------------------------------------------- one row


@dataclass
class Row:
    server: str
    subscribers: int
    rate: float
    events: int = 0
    expected: int = 0
    delivered: int = 0
    messages_per_second: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    cpu_percent: float = 0.0
    cpu_us_per_message: float | None = None
    client_cpu_us_per_message: float | None = None  # all client processes together
    rss_before_kb: int = 0
    rss_idle_kb: int = 0
    rss_end_kb: int = 0
    kb_per_subscriber: float = 0.0
    connect_seconds: float = 0.0
    client_errors: list[str] = field(default_factory=list)
    failed: str | None = None


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
                str(SCRIPT),
                "--client-mode",
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


async def _measure(
    row: Row,
    *,
    pid: int,
    ws_url: str,
    token: str,
    broker: Any,
    topic: str,
    owner_id: str,
    client_processes: int,
    duration: float,
) -> None:
    kind = RELAY if row.server in RELAYS else APP
    row.rss_before_kb = _rss_kb(pid)
    started = time.monotonic()
    clients = await Clients.start(ws_url, kind, row.subscribers, token, client_processes)
    version = 0

    async def publish() -> int:
        nonlocal version
        version += 1
        payload = {
            "kind": "UPDATED",
            "agent_id": owner_id,
            "owner_id": owner_id,
            "status": "ACTIVE",
            "version": version,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        }
        sequence: int = await broker.publish(topic, payload)
        return sequence

    phase = "connecting"
    try:
        await clients.wait_for("SUBSCRIBED", CONNECT_TIMEOUT_SECONDS)
        row.connect_seconds = round(time.monotonic() - started, 1)
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        row.rss_idle_kb = _rss_kb(pid)
        row.kb_per_subscriber = round((row.rss_idle_kb - row.rss_before_kb) / row.subscribers, 1)
        phase = "warming up (every socket's first event)"
        warm = asyncio.create_task(clients.wait_for("WARM", WARMUP_TIMEOUT_SECONDS))
        while not warm.done():  # until every socket has received an event
            await publish()
            await asyncio.wait({warm}, timeout=1.0)
        await warm
        await asyncio.sleep(2.0)  # let the warm-up events drain
        phase = "measuring"
        measured: set[int] = set()
        cpu_start, t0 = cpu_seconds(pid), time.monotonic()
        client_cpu_start = clients.cpu_seconds()
        interval = 1.0 / row.rate
        count = max(1, round(duration * row.rate))
        for i in range(count):
            delay = t0 + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            measured.add(await publish())
        await asyncio.sleep(interval)
        elapsed = time.monotonic() - t0
        row.cpu_percent = round((cpu_seconds(pid) - cpu_start) / elapsed * 100, 1)
        await asyncio.sleep(DRAIN_SECONDS)
        cpu_used = cpu_seconds(pid) - cpu_start  # publishing and draining
        client_cpu_used = clients.cpu_seconds() - client_cpu_start
        row.rss_end_kb = _rss_kb(pid)
        latencies, row.client_errors = await clients.stop()
        values = sorted(ms for sequence, ms in latencies if sequence in measured)
        row.events = len(measured)
        row.expected = len(measured) * row.subscribers
        row.delivered = len(values)
        row.messages_per_second = round(len(values) / elapsed, 1)
        if values:
            row.cpu_us_per_message = round(cpu_used / len(values) * 1e6, 1)
            row.client_cpu_us_per_message = round(client_cpu_used / len(values) * 1e6, 1)
        if values:
            row.p50_ms = round(percentile(values, 0.50), 1)
            row.p99_ms = round(percentile(values, 0.99), 1)
            row.max_ms = round(values[-1], 1)
    except Exception as exc:
        row.failed = f"{type(exc).__name__} while {phase}: {exc}"[:500]
    finally:
        clients.kill()


# ----------------------------------------------------------------------------- orchestration


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"fanout_bench_{os.getpid()}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


def _parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split(",") if item)
    return f"app ({name})", env


async def _run(args: argparse.Namespace) -> list[Row]:
    from redis.asyncio import Redis

    from db.pubsub import RedisBroker
    from resolvers.events import owner_agents_topic

    prefix = f"bench:fanout:{uuid.uuid4().hex[:8]}:"
    workdir = Path(tempfile.mkdtemp(prefix="fanout-bench-"))
    variants: list[tuple[str, dict[str, str]]] = [(APP, {})] + [
        _parse_variant(v) for v in args.app_variant
    ]
    if args.app_variant and not args.keep_plain_app:
        variants = variants[1:]
    redis = Redis.from_url(REDIS_URL)
    broker = RedisBroker(redis, prefix)
    rows: list[Row] = []
    base_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS"}
    }
    try:
        async with _database() as database_url:
            app_env = {
                **base_env,
                "DATA_DIR": str(workdir / "data"),
                "DATABASE_URL": database_url,
                "REDIS_URL": REDIS_URL,
                "REDIS_KEY_PREFIX": prefix,
                "JWT_SECRETS": secrets.token_urlsafe(48),
                "ACCESS_TOKEN_TTL_SECONDS": "7200",
                "LOG_LEVEL": "WARNING",
                "WEBSOCKETS_PER_USER": "0",  # one user, one address, 10,000 sockets
                "WEBSOCKETS_PER_IP": "0",
            }
            token = owner_id = ""
            for subscribers in args.subscribers:
                rate = args.rate or (1.0 if subscribers >= 10_000 else 5.0)
                topic = ""
                for name, extra in [(RELAY, {}), (FLOOR, {}), *variants]:
                    row = Row(name, subscribers, rate)
                    rows.append(row)
                    port = free_port()
                    if name in RELAYS:
                        if not owner_id:  # the relay needs the topic: register on a first app
                            with _server(
                                [str(BIN / "consciousness"), "serve", "--port", str(port)],
                                app_env,
                                f"http://127.0.0.1:{port}/health",
                                workdir / "register.log",
                            ):
                                token, owner_id = _register(f"http://127.0.0.1:{port}")
                            port = free_port()
                        topic = owner_agents_topic(uuid.UUID(owner_id))
                        command = [
                            str(BIN / "uvicorn"),
                            RELAYS[name],
                            "--port",
                            str(port),
                            "--log-level",
                            "warning",
                            "--ws-max-size",
                            str(1024 * 1024),
                            # as the app (WEBSOCKET_COMPRESSION=false): compare the stacks,
                            # not the compression setting
                            "--ws-per-message-deflate",
                            "false",
                        ]
                        env = {
                            **base_env,
                            "FANOUT_REDIS_URL": REDIS_URL,
                            "FANOUT_CHANNEL": broker._channel(topic),
                        }
                        ready, ws_url = f"http://127.0.0.1:{port}/none", f"ws://127.0.0.1:{port}/ws"
                    else:
                        command = [str(BIN / "consciousness"), "serve", "--port", str(port)]
                        env = {**app_env, **extra}
                        ready = f"http://127.0.0.1:{port}/health"
                        ws_url = f"ws://127.0.0.1:{port}/graphql"
                    print(f"-- {name}: {subscribers} subscribers, {rate:g} events/s", flush=True)
                    log = workdir / f"{name.replace(' ', '_')}-{subscribers}.log"
                    try:
                        with _relay_ready(command, env, ready, log) as pid:
                            await _measure(
                                row,
                                pid=pid,
                                ws_url=ws_url,
                                token=token,
                                broker=broker,
                                topic=topic,
                                owner_id=owner_id,
                                client_processes=args.clients,
                                duration=args.duration,
                            )
                    except Exception as exc:
                        row.failed = f"{type(exc).__name__}: {exc}"[:500]
                    print(f"   {_line(row)}", flush=True)
                    await asyncio.sleep(2)  # closed sockets leave the server's table
    finally:
        with contextlib.suppress(Exception):
            keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
            if keys:
                await redis.delete(*keys)
        await broker.close()
        await redis.aclose()
    if any(row.failed for row in rows):
        print(f"server logs kept in {workdir}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


@contextlib.contextmanager
def _relay_ready(command: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[int]:
    """Start a server; a 404 from the relay's plain-HTTP probe means it is up too."""
    if ready.endswith("/none"):
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"relay exited:\n{log.read_text()[-3000:]}")
                try:
                    urllib.request.urlopen(ready, timeout=1)
                except urllib.error.HTTPError:
                    break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("relay not ready")
                time.sleep(0.2)
            yield process.pid
        finally:
            _stop(process)
        return
    with _server(command, env, ready, log) as pid:
        yield pid


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _line(row: Row) -> str:
    if row.failed:
        return f"{row.server}: FAILED {row.failed}"
    return (
        f"{row.server}: p50 {_fmt(row.p50_ms)} ms, p99 {_fmt(row.p99_ms)} ms, "
        f"{_fmt(row.messages_per_second)} msg/s ({row.delivered}/{row.expected}), "
        f"cpu {row.cpu_percent}%, {row.kb_per_subscriber} KB/sub, "
        f"connect {row.connect_seconds}s, client errors {len(row.client_errors)}"
    )


def _table(rows: list[Row]) -> str:
    header = (
        f"{'server':<24} {'N':>6} {'ev/s':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'msg/s':>9} {'delivered':>9} {'cpu%':>6} {'us/msg':>7} {'client':>7} {'KB/sub':>7} "
        f"{'RSS MB':>7} "
        f"{'p99 x':>6} {'msg/s x':>7}"
    )
    lines = [header, "-" * len(header)]
    baseline: dict[int, Row] = {r.subscribers: r for r in rows if r.server == RELAY}
    for row in rows:
        if row.failed:
            lines.append(f"{row.server:<24} {row.subscribers:>6} FAILED: {row.failed[:80]}")
            continue
        base = baseline.get(row.subscribers)
        p99_ratio = msg_ratio = "-"
        if base is not None and row is not base and not base.failed:
            if base.p99_ms and row.p99_ms is not None:
                p99_ratio = f"{row.p99_ms / base.p99_ms:.2f}"
            if base.messages_per_second:
                msg_ratio = f"{row.messages_per_second / base.messages_per_second:.2f}"
        share = f"{row.delivered / row.expected:.1%}" if row.expected else "-"
        lines.append(
            f"{row.server:<24} {row.subscribers:>6} {row.rate:>5g} {_fmt(row.p50_ms):>8} "
            f"{_fmt(row.p99_ms):>8} {_fmt(row.max_ms):>8} {_fmt(row.messages_per_second):>9} "
            f"{share:>9} {row.cpu_percent:>6} {_fmt(row.cpu_us_per_message, 1):>7} "
            f"{_fmt(row.client_cpu_us_per_message, 1):>7} {row.kb_per_subscriber:>7} "
            f"{row.rss_idle_kb / 1024:>7.0f} {p99_ratio:>6} {msg_ratio:>7}"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client-mode":
        _raise_fd_limit()
        url, kind, count = sys.argv[2:5]
        token = os.environ.get("FANOUT_BENCH_TOKEN", "")
        import uvloop  # as the servers' uvicorn: the load generator's own cost kept low

        uvloop.run(_client_main(url, kind, int(count), token))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subscribers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1_000, 10_000],
        help="comma-separated subscriber counts (default 1000,10000)",
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="events/s (default 5 below 10,000, else 1)"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per row")
    parser.add_argument("--clients", type=int, default=4, help="client processes per row")
    parser.add_argument(
        "--app-variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="run the app with extra environment as another row (repeatable)",
    )
    parser.add_argument(
        "--keep-plain-app",
        action="store_true",
        help="with --app-variant, also keep the app row without extra environment",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers, 10 s")
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.duration = [1_000], 10.0
    limit = _raise_fd_limit()
    needed = max(args.subscribers) + 1024
    if limit < needed:
        sys.exit(f"the open-files limit is {limit}; {needed} are needed (raise `ulimit -Hn`)")
    sys.path.insert(0, str(ROOT))
    started = time.time()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the suite's timeout: clean up
    rows = asyncio.run(_run(args))
    print()
    print(
        f"fan-out: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at the end, "
        f"{args.clients} client processes, {args.duration:g} s measured per row, "
        f"events published straight into the broker (RedisBroker.publish)"
    )
    print(_table(rows))
    for row in rows:
        if row.client_errors:
            print(f"{row.server} N={row.subscribers} client errors (first): {row.client_errors[0]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "arguments": {k: v for k, v in vars(args).items()},
        "rows": [asdict(row) | {"client_errors": row.client_errors[:5]} for row in rows],
    }
    (RESULTS / "fanout.json").write_text(json.dumps(report, indent=2))
    print(f"results: {RESULTS / 'fanout.json'}")


if __name__ == "__main__":
    main()
