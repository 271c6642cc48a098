"""One row of the fan-out benchmark: N subscribers of one server, events at a fixed rate
(`measure`), and the rows as a table; bench/fanout_bench.py runs the servers and the rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fanout_clients import GRAPHQL, PLAIN, Clients
from figures import percentile
from processes import cpu_seconds

CONNECT_TIMEOUT_SECONDS = 300.0  # every client process connected and subscribed
WARMUP_TIMEOUT_SECONDS = 120.0  # every socket received a first event
IDLE_SETTLE_SECONDS = 3.0
DRAIN_SECONDS = 5.0
RELAY, FLOOR, APP = "bare relay", "ASGI floor", "app"
RELAYS = {RELAY: "bench.servers.fanout_relay:app", FLOOR: "bench.servers.fanout_relay:floor"}


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


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def measure(
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
    kind = PLAIN if row.server in RELAYS else GRAPHQL
    row.rss_before_kb = rss_kb(pid)
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
        row.rss_idle_kb = rss_kb(pid)
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
        row.rss_end_kb = rss_kb(pid)
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


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def line(row: Row) -> str:
    if row.failed:
        return f"{row.server}: FAILED {row.failed}"
    return (
        f"{row.server}: p50 {_fmt(row.p50_ms)} ms, p99 {_fmt(row.p99_ms)} ms, "
        f"{_fmt(row.messages_per_second)} msg/s ({row.delivered}/{row.expected}), "
        f"cpu {row.cpu_percent}%, {row.kb_per_subscriber} KB/sub, "
        f"connect {row.connect_seconds}s, client errors {len(row.client_errors)}"
    )


def table(rows: list[Row]) -> str:
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
