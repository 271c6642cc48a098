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
protocol driven from the transport's callbacks (LeanSocket, bench/fanout_clients.py; one
row's measurement is bench/fanout_rows.py): the load generator shares the
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
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path

from fanout_clients import raise_fd_limit
from fanout_rows import APP, FLOOR, RELAY, RELAYS, Row, line, measure, table
from processes import free_port, stop_session, wait_until_ready

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"  # a throwaway benchmark user's


# ----------------------------------------------------------------------------- servers


@contextlib.contextmanager
def _server(
    command: list[str], env: dict[str, str], ready_url: str, log: Path, *, any_answer: bool = False
) -> Iterator[int]:
    """Start a server in a session of its own, wait until it answers (`wait_until_ready`),
    yield its pid, and stop it and its children."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        wait_until_ready([process], ready_url, log, any_answer=any_answer)
        yield process.pid
    finally:
        stop_session(process)


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
                        with _server(command, env, ready, log, any_answer=name in RELAYS) as pid:
                            await measure(
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
                    print(f"   {line(row)}", flush=True)
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


def main() -> None:
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
    limit = raise_fd_limit()
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
    print(table(rows))
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
