"""Grouped against ungrouped fan-out: N subscribers of one operation, events at a fixed rate.

One `consciousness serve` process on Redis per mode (SUBSCRIPTION_GROUPING=false, the
baseline, then true), N graphql-transport-ws clients in this process, all the same user
running the same `agentEvents` subscription, so with grouping they share one execution and
one encoded frame per event. The benchmark publishes the events straight onto the Redis
broker (no mutation in the way), so the server's CPU time (from /proc, utime + stime over
the publishing window and the drain) is the fan-out's: executing, encoding and sending.
Latency is receive time minus the event's publish timestamp. Prints each mode and the ratios
grouped / ungrouped, measured in the same run; writes bench/results/fanout_grouping.json.
Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0). Run from the repo root:
`.venv/bin/python bench/fanout_grouping_bench.py [--subscribers 500] [--rate 10] [--seconds 10]
[--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from figures import Figure, add_json_option, percentile, write_figures  # noqa: E402
from processes import cpu_seconds, free_port  # noqa: E402
from stack import redis_prefix  # noqa: E402

from db.pubsub import RedisBroker  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
PASSWORD = "correct horse battery staple"  # a throwaway benchmark user's
REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }"""
SUBSCRIPTION = """subscription { agentEvents {
  sequence kind agentId ownerId status version timestamp } }"""
DRAIN_SECONDS = 30.0


@dataclass
class Result:
    mode: str
    subscribers: int
    events: int
    delivered: int
    server_cpu_seconds: float
    cpu_us_per_delivery: float
    p50_ms: float
    p99_ms: float
    max_ms: float


@contextlib.contextmanager
def server(workdir: Path, redis_url: str, prefix: str, grouping: bool) -> Iterator[tuple[int, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CLICKHOUSE_URL"}}
    env.update(
        DATA_DIR=str(workdir / "data"),
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix,
        JWT_SECRETS="bench-secret-" + "x" * 40,
        SUBSCRIPTION_GROUPING="true" if grouping else "false",
        LOG_LEVEL="WARNING",
        WEBSOCKETS_PER_USER="0",  # one user, one address, hundreds of sockets
        WEBSOCKETS_PER_IP="0",
    )
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "consciousness"), "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError((workdir / "server.log").read_text())
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield process.pid, url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def register(url: str) -> tuple[str, str]:
    name = f"bench{uuid.uuid4().hex[:8]}"
    variables = {"i": {"username": name, "email": f"{name}@example.org", "password": PASSWORD}}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        body = (
            await http.post("/graphql", json={"query": REGISTER, "variables": variables})
        ).json()
    data = body["data"]["register"]
    return data["accessToken"], data["user"]["id"]


async def subscriber(ws: ClientConnection, latencies: list[float], expected: int) -> None:
    received = 0
    while received < expected:
        message = json.loads(await ws.recv())
        if message["type"] != "next":
            continue
        event = message["payload"]["data"]["agentEvents"]
        sent = datetime.fromisoformat(event["timestamp"]).timestamp()
        latencies.append((time.time() - sent) * 1000)
        received += 1


async def open_socket(url: str, token: str) -> ClientConnection:
    ws = await connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=None,
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
    return ws


async def run_mode(args: argparse.Namespace, grouping: bool, workdir: Path) -> Result:
    events = int(args.rate * args.seconds)
    with (
        redis_prefix("grouping", args.redis_url) as prefix,
        server(workdir, args.redis_url, prefix, grouping) as (pid, url),
    ):
        token, user_id = await register(url)
        sockets = []
        for start in range(0, args.subscribers, 100):
            batch = range(start, min(start + 100, args.subscribers))
            sockets += await asyncio.gather(*(open_socket(url, token) for _ in batch))
        await asyncio.sleep(2)  # let every subscription reach the broker
        redis = Redis.from_url(args.redis_url)
        broker = RedisBroker(redis, prefix)
        latencies: list[float] = []
        readers = [asyncio.create_task(subscriber(ws, latencies, events)) for ws in sockets]
        cpu_before = cpu_seconds(pid)
        topic = f"user:{user_id}:agents"
        started = time.monotonic()
        for n in range(events):
            await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
            payload = {
                "kind": "UPDATED",
                "agent_id": str(uuid.uuid4()),
                "owner_id": user_id,
                "status": "ACTIVE",
                "version": n + 1,
                "timestamp": datetime.now(UTC).isoformat(),
            }
            await broker.publish(topic, payload)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*readers), DRAIN_SECONDS)
        cpu = cpu_seconds(pid) - cpu_before
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()
        await broker.close()
        await redis.aclose()
    ordered = sorted(latencies) or [float("nan")]
    return Result(
        mode="grouped" if grouping else "ungrouped",
        subscribers=args.subscribers,
        events=events,
        delivered=len(latencies),
        server_cpu_seconds=round(cpu, 3),
        cpu_us_per_delivery=round(cpu / max(1, len(latencies)) * 1e6, 1),
        p50_ms=round(statistics.median(ordered), 1),
        p99_ms=round(percentile(ordered, 0.99), 1),
        max_ms=round(ordered[-1], 1),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fanout-grouping-") as tmp:
        baseline = await run_mode(args, grouping=False, workdir=Path(tmp) / "ungrouped")
        grouped = await run_mode(args, grouping=True, workdir=Path(tmp) / "grouped")
    print(
        f"{'mode':<10} {'subs':>5} {'events':>6} {'delivered':>9} {'cpu s':>7} {'µs/msg':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for r in (baseline, grouped):
        print(
            f"{r.mode:<10} {r.subscribers:>5} {r.events:>6} {r.delivered:>9} "
            f"{r.server_cpu_seconds:>7} {r.cpu_us_per_delivery:>7} {r.p50_ms:>7} "
            f"{r.p99_ms:>7} {r.max_ms:>7}"
        )
    short = [
        f"{r.mode} delivered {r.delivered:,} of {r.events * r.subscribers:,}"
        for r in (baseline, grouped)
        if r.delivered != r.events * r.subscribers
    ]
    if short:  # a mode that lost messages divides its CPU by fewer: the ratio would lie
        raise SystemExit("not comparable: " + "; ".join(short))
    ratios = {
        "cpu per message": grouped.cpu_us_per_delivery / max(baseline.cpu_us_per_delivery, 1e-9),
        "p50": grouped.p50_ms / max(baseline.p50_ms, 1e-9),
        "p99": grouped.p99_ms / max(baseline.p99_ms, 1e-9),
    }
    print("grouped / ungrouped: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    scenario = "extra: grouped fan-out"
    where = f"{grouped.subscribers} subscribers of one operation, {args.rate:g} events/s"
    write_figures(args.json, [
        Figure("grouping.cpu_us_per_delivery", scenario,
               f"server CPU per delivered message, grouped, {where}", grouped.cpu_us_per_delivery,
               "µs", "ungrouped (SUBSCRIPTION_GROUPING=false)", baseline.cpu_us_per_delivery,
               note=f"both modes delivered all {grouped.delivered:,}"),
        Figure("grouping.p99_ms", scenario, f"delivery p99, grouped, {where}", grouped.p99_ms,
               "ms", "ungrouped", baseline.p99_ms),
    ])  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fanout_grouping.json").write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "args": {k: v for k, v in vars(args).items() if k not in ("redis_url", "json")},
                "results": [asdict(baseline), asdict(grouped)],
                "ratios_grouped_over_ungrouped": ratios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the suite's timeout: clean up
    asyncio.run(main())
