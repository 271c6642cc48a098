"""Authenticated `agents(first: 20)` with owner and stats over HTTP, against the stack's floor.

Scenario 2 of `make bench` (and the floor of scenario 1 at the same concurrencies). Three
servers, one at a time, each measured by wrk at every concurrency (1, 50 and 200 by default)
with http_bench's wrk script (bodies carrying GraphQL `errors` are counted), server pinned to
CPU 0 and wrk to CPU 1 when there are two:

- the floor: bare Starlette answering JSON, and bare strawberry answering `{ hello }`, without
  and with its parser and validation caches (bench/servers/, the same uvicorn flags);
- our app: `consciousness serve` on PostgreSQL (a fresh database) and Redis (a unique key
  prefix), analytics in embedded chDB; the ENTERPRISE benchmark user owns AGENTS agents with
  PROCESSED_PER_AGENT `process` calls each, so every listed agent has non-trivial stats.
  The query lists 20 with their owner and stats (the owner and stats DataLoaders).

Each agents row's req/s, p50 and p99 are divided by bare strawberry's at the same
concurrency, and bare strawberry's req/s by bare Starlette's; the agents req/s also by bare
strawberry + caches' (issue 16's target: at least 0.08x at c=50, in this run). Run from the
repo root:
`.venv/bin/python bench/agents_load_bench.py [--quick] [--duration S] [--connections 1,50,200]
[--json PATH]`.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from figures import Figure, add_load_options, number, parse_load_options, write_figures
from http_bench import (
    BARE,
    BIN,
    CACHED,
    FLOOR,
    Scenario,
    Server,
    machine_info,
    measure,
    render,
    running,
    servers,
)
from process_bench import PROCESS, TEXTS
from processes import ServerDidNotStart, ensure_wrk, last_line, pinning
from stack import (
    create_agents,
    create_bench_user,
    fresh_database,
    gql,
    redis_prefix,
    sign_in,
    stack_env,
)
from wrk_load import Row

AGENTS = 25
LISTED = 20
PROCESSED_PER_AGENT = 2
STATS_WAIT_SECONDS = 30.0  # the analytics writer flushes every 0.5 s by default
AGENTS_QUERY = f"""{{ agents(first: {LISTED}) {{ edges {{ node {{
  id name status owner {{ id username }}
  stats {{ requestCount meanAwareness meanEthicalScore p95ProcessingTimeMs }}
}} }} }} }}"""
AGENTS_NAME = f"agents(first: {LISTED}) + owner + stats"
LABELS = {  # in the figures
    FLOOR: "bare Starlette JSON",
    BARE: "bare strawberry { hello }",
    CACHED: "bare strawberry + caches { hello }",
}
KEYS = {FLOOR: "starlette", BARE: "strawberry", CACHED: "strawberry-cached"}
# Issue 16's target for the listing: at least this share of bare strawberry + caches' req/s
# at c=50, both measured in this run (scenario 1's floor is another script's, minutes apart).
RATIO_TARGET, TARGET_CONNECTIONS = 0.08, 50


def seed(base: str) -> str:
    """The user's agents, each with processed sessions, visible in the listing's stats."""
    with httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client)
        for agent_id in create_agents(client, AGENTS):
            for index in range(PROCESSED_PER_AGENT):
                text = TEXTS[index % len(TEXTS)]
                gql(client, PROCESS, input={"agentId": agent_id, "input": text})
        deadline = time.monotonic() + STATS_WAIT_SECONDS
        while True:
            edges = gql(client, AGENTS_QUERY)["agents"]["edges"]
            counts = [(edge["node"]["stats"] or {}).get("requestCount", 0) for edge in edges]
            if len(edges) == LISTED and min(counts) >= PROCESSED_PER_AGENT:
                return token
            if time.monotonic() > deadline:
                raise RuntimeError(f"stats still incomplete after seeding: {counts}")
            time.sleep(0.5)


def measure_server(server: Server, pin: list[str], wrk: list[str], args: argparse.Namespace,
                   workdir: Path, stores: dict[str, str] | None) -> list[Row]:  # fmt: skip
    """Start one server and measure its scenario at every concurrency."""
    (scenario,) = server.scenarios
    rows = [Row(scenario.name, server.name, scenario.baseline, c) for c in args.connections]
    try:
        with running(server, pin, workdir, stores) as (base, pid):
            token = seed(base) if server.app else None
            for row in rows:
                try:
                    measure(row, scenario, base, pid, token, wrk, args, workdir)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.note = f"failed: {last_line(str(exc))}"
                print(f"   c={row.connections}: {row.rps:,.0f} req/s {row.note}",
                      file=sys.stderr, flush=True)  # fmt: skip
    except (ServerDidNotStart, RuntimeError) as exc:
        for row in rows:
            row.note = row.note or f"failed: {server.name}: {last_line(str(exc))}"
    return rows


def floor_figure(row: Row, base: Row | None) -> Figure:
    """A floor row (scenario 1): a floor server against its baseline at the same c."""
    c, kind = row.connections, KEYS[row.name]
    latency = f"p50 {number(row.p50_ms)} ms, p99 {number(row.p99_ms)} ms"
    return Figure(
        f"floor.c{c}.{kind}.rps", "1. floor", f"{LABELS[row.name]}, c={c} (scenario 2's run)",
        None if row.note else row.rps, "req/s", f"{LABELS[base.name]}, c={c}" if base else "",
        base.rps if base else None, note=row.note or row.errors_note() or latency,
    )  # fmt: skip


def agents_figures(
    row: Row, base: Row | None, floor: Row | None, cached: Row | None
) -> list[Figure]:
    """An agents row (scenario 2): req/s, p50, p99 against bare strawberry at the same c, and
    req/s against bare strawberry + caches (at c=50, issue 16's target)."""
    c, note = row.connections, row.note or row.errors_note()
    if not note and floor and floor.rps:
        note = f"{row.rps / floor.rps:.3g}x bare Starlette ({number(floor.rps)} req/s)"
    named, scenario, key = f"{LABELS[BARE]}, c={c}", "2. agents(first: 20)", f"agents.c{c}"
    measured = [("rps", "req/s", row.rps, base.rps if base else None),
                ("p50_ms", "p50", row.p50_ms, base.p50_ms if base else None),
                ("p99_ms", "p99", row.p99_ms, base.p99_ms if base else None)]  # fmt: skip
    result = [
        Figure(f"{key}.{name}", scenario, f"{label}, c={c}", None if row.note else value,
               "req/s" if name == "rps" else "ms", named, base_value,
               note=note if name == "rps" else "")
        for name, label, value, base_value in measured
    ]  # fmt: skip
    if cached is not None:
        target = RATIO_TARGET if c == TARGET_CONNECTIONS else None
        result.append(Figure(f"{key}.rps_cached", scenario, f"req/s, c={c}, against the floor",
                             None if row.note else row.rps, "req/s", f"{LABELS[CACHED]}, c={c}",
                             cached.rps, ratio_target=target))  # fmt: skip
    return result


def figures(rows: list[Row]) -> list[Figure]:
    """Floor rows (scenario 1) and agents rows (scenario 2), each against its baseline at c."""
    by = {(row.name, row.connections): row for row in rows}
    result = []
    for row in rows:
        base = by.get((row.baseline or "", row.connections))
        base = base if base and not base.note else None
        if row.name == AGENTS_NAME:
            cached = by.get((CACHED, row.connections))
            cached = cached if cached and not cached.note else None
            result += agents_figures(row, base, by.get((FLOOR, row.connections)), cached)
        else:
            result.append(floor_figure(row, base))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser, connections=[1, 50, 200])
    args = parse_load_options(parser)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: servers stopped, DB dropped
    wrk_path = ensure_wrk()
    server_pin, wrk_pin, pinned = pinning()
    info = machine_info(wrk_path, pinned)
    floors = [
        server
        for server in servers()
        if server.name in ("bare-starlette", "bare-strawberry", "bare-strawberry-cached")
    ]
    app = Server("app-serve", [str(BIN / "consciousness"), "serve"], "/ready",
                 [Scenario(AGENTS_NAME, AGENTS_QUERY, BARE, auth=True)], app=True)  # fmt: skip
    rows: list[Row] = []
    wrk = [*wrk_pin, wrk_path]
    with (
        tempfile.TemporaryDirectory(prefix="agents-load-") as tmp,
        fresh_database("agents") as database_url,
        redis_prefix("agents") as prefix,
    ):
        workdir = Path(tmp)
        stores = stack_env(workdir / "app", database_url, prefix, secrets.token_urlsafe(48))
        create_bench_user(stores, workdir)
        for server in [*floors, app]:
            print(f"== {server.name}", file=sys.stderr, flush=True)
            rows += measure_server(server, server_pin, wrk, args, workdir, stores)
    by = {(row.name, row.connections): row for row in rows}
    for row in rows:
        base = by.get((row.baseline or "", row.connections))
        if base and base.rps and row.rps:
            row.ratio, row.cpu_ratio = row.rps / base.rps, row.rps_per_cpu / base.rps_per_cpu
    shown = argparse.Namespace(
        duration=args.duration, connections="/".join(map(str, args.connections))
    )
    print(render(rows, info, shown).replace("# HTTP benchmark", f"# {AGENTS_NAME}", 1))
    write_figures(args.json, figures(rows), machine=info, duration_s=args.duration)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
