"""`process` end to end under load on PostgreSQL + Redis, on one and on two worker processes.

Scenarios 3 and 7 of `make bench`. The stores: a fresh PostgreSQL database and a unique Redis
key prefix (bench/stack.py), the ENTERPRISE benchmark user and as many ACTIVE agents as the
top concurrency. wrk (one thread, its own process) keeps C `process` mutations in flight, each
request for the next agent in turn, so concurrent requests mostly write different agents: the
figure is the whole path (auth, engine, PostgreSQL write, analytics enqueue, broker
publish), not one agent's lock. Answers come back out of order, so now and then two calls in
flight share an agent and one redoes its write under the row lock: the share is reported
(from the worker's /metrics, one worker only). Every response body is checked for GraphQL `errors`.

The server: N uvicorn workers of our app accepting on one shared listening socket, as
`consciousness serve --workers N` runs them (bench/servers/socket_worker.py). Each worker has
its own DATA_DIR, hence its own embedded chDB: `--workers 2` needs a ClickHouse server, and
there is none on the benchmark machine. Nothing is pinned: the workers, wrk, PostgreSQL and
Redis share the cores, as they would on one host.

Baselines, measured in the same run:
- req/s: engine.process alone on the same inputs in this process, semantic guard on as the
  server runs it: calls/s on one core (its mean cost: the inputs differ several times over,
  so the median understates it), times the workers, the ceiling if nothing but the engine
  cost anything;
- p50 and p99: the engine alone per call (median, p99); target: `process` p99 < 200 ms;
- scale-out: 2-worker req/s over 1-worker req/s at the same concurrency (2.0x is perfect);
- CPU per request of the workers (from /proc), of their engine processes (the workers'
  children, which run every input where a core is left over: server/engine_processes.py), and
  of every PostgreSQL and Redis process on the machine, against the engine's mean time per
  call: the projection's inputs. And the whole machine's busy CPU per request (/proc/stat,
  wrk included) with the cores it kept busy: whether the run was bound by one process or by
  the machine; and the bytes of PostgreSQL's write-ahead log per request.

Run from the repo root: `.venv/bin/python bench/process_load_bench.py [--quick]
[--duration S] [--connections 50,200] [--workers 1,2] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from figures import (
    Figure,
    add_load_options,
    int_list,
    number,
    parse_load_options,
    percentile,
    write_figures,
)
from http_bench import ROOT, machine_info
from process_bench import PROCESS, TEXTS
from processes import (
    READY_TIMEOUT_SECONDS,
    STORE_PROCESSES,
    ServerDidNotStart,
    children_cpu,
    ensure_wrk,
    last_line,
    machine_busy,
    stop_session,
    store_cpu,
    store_cpu_used,
    wait_until_ready,
)
from stack import (
    consciousness,
    create_agents,
    create_bench_user,
    fresh_database,
    gql,
    redis_prefix,
    sign_in,
    stack_env,
    state_retries,
    wal_position,
)
from wrk_load import LUA_REPORT, Row, measure_wrk, warm_up

SOCKET_WORKER = ROOT / "bench" / "servers" / "socket_worker.py"
P99_TARGET_MS = 200.0
ENGINE_CALLS = 500
PROCESS_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer @TOKEN@"
local bodies = {
@BODIES@
}
local turn = 0
function request()
  turn = turn % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[turn])
end
"""


@dataclass
class Run:
    workers: int
    row: Row
    store_cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per request
    engine_cpu_ms: float = 0.0  # the workers' engine processes, CPU ms per request
    machine_cpu_ms: float = 0.0  # every process on the machine, busy CPU ms per request
    cores_busy: float = 0.0  # of os.cpu_count(), averaged over the run
    wal_bytes: float = 0.0  # PostgreSQL's write-ahead log per request
    # Share of the calls whose compare-and-set lost and were redone under the row lock (one
    # worker: /metrics answers for the worker it reaches); None when not counted.
    state_retries: float | None = None


@dataclass(frozen=True)
class EngineAlone:
    """engine.process on TEXTS in turn, ms per call."""

    median_ms: float
    p99_ms: float
    mean_ms: float


def engine_alone(calls: int) -> EngineAlone:
    """engine.process on TEXTS in turn, in this process (one core), with the semantic guard
    the server loads (its encoder is most of the engine's cost)."""
    sys.path.insert(0, str(ROOT))
    from db.guard_model import load_guard
    from engine import EngineConfig, EngineRequest, process

    config, requests = EngineConfig(), [EngineRequest(text) for text in TEXTS]
    guard = load_guard()
    for request in requests:  # warm-up: lexicons, caches
        process(request, None, config, guard=guard)
    samples = []
    for index in range(calls):
        started = time.perf_counter()
        process(requests[index % len(requests)], None, config, guard=guard)
        samples.append((time.perf_counter() - started) * 1000)
    return EngineAlone(percentile(samples, 0.5), percentile(samples, 0.99), sum(samples) / calls)


@contextlib.contextmanager
def workers(count: int, env: dict[str, str], workdir: Path) -> Iterator[tuple[str, list[int]]]:
    """`count` socket workers sharing one listening socket; yields its URL and their pids."""
    listening = socket.create_server(("127.0.0.1", 0), backlog=4096)
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    procs: list[subprocess.Popen[bytes]] = []
    logs = [workdir / f"worker{index}-of-{count}.log" for index in range(count)]
    try:
        for index, log in enumerate(logs):
            # as `serve --workers N` tells each worker how many serve beside it
            serving_env = {
                "DATA_DIR": str(workdir / f"worker{index}"),
                "SERVING_PROCESSES": str(count),
            }
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, str(SOCKET_WORKER), str(listening.fileno())],
                        env=env | serving_env,
                        cwd=workdir,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        pass_fds=[listening.fileno()],
                        start_new_session=True,
                    )
                )
        listening.close()  # the workers hold it; with none left, connections are refused
        wait_until_ready(procs, base + "/ready", logs[0])
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not all("WORKER READY" in log.read_text() for log in logs):  # each one accepts
            if time.monotonic() > deadline or any(proc.poll() is not None for proc in procs):
                raise ServerDidNotStart(" / ".join(last_line(log.read_text()) for log in logs))
            time.sleep(0.2)
        yield base, [proc.pid for proc in procs]
    finally:
        listening.close()
        for proc in procs:
            stop_session(proc)


def seed(base: str, agents: int, workdir: Path) -> Path:
    """Sign in, create and activate the agents, check one `process`; the wrk script's path."""
    with httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client)
        ids = create_agents(client, agents)
        gql(client, PROCESS, input={"agentId": ids[0], "input": TEXTS[0]})
    bodies = [
        json.dumps({"query": PROCESS, "variables": {"input": {"agentId": agent_id, "input": text}}})
        for agent_id, text in zip(ids, TEXTS * (agents // len(TEXTS) + 1), strict=False)
    ]
    lua = PROCESS_LUA.replace("@TOKEN@", token)
    lua = lua.replace("@BODIES@", ",\n".join(f"[==[{body}]==]" for body in bodies))
    script = workdir / "process.lua"
    script.write_text(lua + LUA_REPORT, encoding="utf-8")
    return script


def measure(
    run: Run, wrk: list[str], url: str, script: Path, pids: list[int], seconds: int, database: str
) -> None:
    """One measured wrk run into `run`: the load figures, and the CPU every part of the
    machine spent per request (the workers, their engine processes, the stores, in all)."""
    metrics_url = url.removesuffix("/graphql") + "/metrics"
    retries_before = state_retries(metrics_url) if len(pids) == 1 else None
    stores, engines = store_cpu(), children_cpu(pids)
    busy_before, total_before = machine_busy()
    wal_before = wal_position(database)
    measure_wrk(run.row, wrk, url, script, pids, seconds)
    busy, total = machine_busy()
    wal = wal_position(database)
    if retries_before is not None:
        run.state_retries = (state_retries(metrics_url) - retries_before) / max(run.row.requests, 1)
    busy_used, total_used = busy - busy_before, total - total_before
    engine_used = sum(cpu - engines.get(pid, 0.0) for pid, cpu in children_cpu(pids).items())
    requests = max(run.row.requests, 1)
    run.store_cpu_ms = {k: 1000 * s / requests for k, s in store_cpu_used(stores).items()}
    run.wal_bytes = (wal - wal_before) / requests
    run.engine_cpu_ms = 1000 * engine_used / requests
    run.machine_cpu_ms = 1000 * busy_used / requests
    run.cores_busy = busy_used / max(total_used, 1e-9) * (os.cpu_count() or 1)


def measure_runs(args: argparse.Namespace, wrk: list[str], workdir: Path) -> list[Run]:
    """Every worker count x every concurrency, on one database (the agents are reused)."""
    runs: list[Run] = []
    with fresh_database("process") as database_url, redis_prefix("process") as prefix:
        env = stack_env(workdir / "worker0", database_url, prefix, secrets.token_urlsafe(48))
        create_bench_user(env, workdir)
        for index in range(1, max(args.workers)):  # each worker's chDB needs its tables
            consciousness(["migrate"], env | {"DATA_DIR": str(workdir / f"worker{index}")}, workdir)
        script: Path | None = None
        for count in args.workers:
            print(f"== {count} worker(s)", file=sys.stderr, flush=True)
            name = f"process, {count} worker{'s' if count > 1 else ''}"
            try:
                with workers(count, env, workdir) as (base, pids):
                    script = script or seed(base, max(args.connections), workdir)
                    for connections in args.connections:
                        run = Run(count, Row(name, f"{count} workers", None, connections))
                        try:
                            warm_up(wrk, base + "/graphql", script, connections, pids)
                            measure(
                                run,
                                wrk,
                                base + "/graphql",
                                script,
                                pids,
                                args.duration,
                                database_url,
                            )
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            run.row.note = f"failed: {last_line(str(exc))}"
                        print(f"   c={connections}: {run.row.rps:,.1f} req/s, p99 "
                              f"{run.row.p99_ms:.0f} ms {run.row.note}",
                              file=sys.stderr, flush=True)  # fmt: skip
                        runs.append(run)
            except ServerDidNotStart as exc:
                note = f"failed: {count} worker(s) did not start: {exc}"
                runs += [Run(count, Row(name, "", None, c, note=note)) for c in args.connections]
    return runs


def app_cpu_ms(row: Row) -> float:
    """CPU ms the worker processes spent per request (server CPU / throughput)."""
    return 1000 / row.rps_per_cpu if row.rps_per_cpu else 0.0


def figures(runs: list[Run], engine: EngineAlone) -> list[Figure]:
    """Scenario 3 (one worker) and 7 (two against one) as figures."""
    median_ms, p99_ms, mean_ms = engine.median_ms, engine.p99_ms, engine.mean_ms
    per_core = 1000 / mean_ms
    one = {run.row.connections: run for run in runs if run.workers == 1 and not run.row.note}
    result = []
    for run in runs:
        row, c, w = run.row, run.row.connections, run.workers
        key, value = f"process.w{w}.c{c}", (None if row.note else row.rps)
        where = f"{w} worker{'s' if w > 1 else ''}, c={c}"
        note = row.note or row.errors_note()
        p99 = None if row.note else row.p99_ms
        if w == 1:
            s = "3. process"
            result += [
                Figure(f"{key}.rps", s, f"req/s, {where}", value, "req/s",
                       "engine alone, same inputs, 1 core", per_core, note=note),
                Figure(f"{key}.p50_ms", s, f"p50, {where}", None if row.note else row.p50_ms,
                       "ms", "engine alone per call, median", median_ms),
                Figure(f"{key}.p99_ms", s, f"p99, {where}", p99, "ms",
                       "engine alone per call, p99", p99_ms, "<", P99_TARGET_MS),
                Figure(f"{key}.app_cpu_ms", s, f"worker CPU per request, {where}",
                       None if row.note else app_cpu_ms(row), "ms",
                       "engine alone per call, mean", mean_ms,
                       note=row.note or f"server CPU {row.server_cpu_pct:.0f}%"),
                Figure(f"{key}.engine_cpu_ms", s, f"engine processes' CPU per request, {where}",
                       None if row.note else run.engine_cpu_ms, "ms",
                       "engine alone per call, mean", mean_ms,
                       note="the worker's children"),
                Figure(f"{key}.machine_cpu_ms", s, f"machine CPU per request, {where}",
                       None if row.note else run.machine_cpu_ms, "ms",
                       "engine alone per call, mean", mean_ms,
                       note=row.note or f"{run.cores_busy:.2f} of {os.cpu_count()} cores busy; "
                                        "every process, wrk included"),
                Figure(f"{key}.wal_bytes", s, f"PostgreSQL write-ahead log per request, {where}",
                       None if row.note else run.wal_bytes, "bytes",
                       note="the server's, every database"),
                Figure(f"{key}.state_retries_pct", s,
                       f"calls redone under the agent's row lock, {where}",
                       None if row.note or run.state_retries is None else 100 * run.state_retries,
                       "%", note="the compare-and-set lost to a concurrent call on the agent"),
            ]  # fmt: skip
            result += [
                Figure(f"{key}.{store.lower()}_cpu_ms", s, f"{store} CPU per request, {where}",
                       None if row.note else ms, "ms",
                       note="every process of it on the machine")
                for store, ms in run.store_cpu_ms.items()
            ]  # fmt: skip
            continue
        base = one.get(c)
        s = "7. scale-out"
        result += [
            Figure(f"{key}.rps", s, f"req/s, {where}", value, "req/s", f"1 worker, c={c}",
                   base.row.rps if base else None,
                   note=note or f"ideal {w}.0x; engine-alone ceiling on {w} cores "
                                f"{number(per_core * w)} req/s"),
            Figure(f"{key}.p99_ms", s, f"p99, {where}", p99, "ms", f"1 worker, c={c}",
                   base.row.p99_ms if base else None, "<", P99_TARGET_MS),
        ]  # fmt: skip
    return result


def render(runs: list[Run], engine: EngineAlone, args: argparse.Namespace) -> str:
    lines = [
        f"`process` on PostgreSQL + Redis, wrk -t1 for {args.duration} s after a 1 s warm-up; "
        f"engine alone on the same inputs: mean {engine.mean_ms:.2f} ms, median "
        f"{engine.median_ms:.2f} ms, p99 {engine.p99_ms:.2f} ms",
        "",
        "| workers | c | req/s | p50 ms | p90 ms | p99 ms | errors | worker CPU | CPU ms/req "
        "| engine CPU ms/req | PostgreSQL CPU ms/req | Redis CPU ms/req | WAL bytes/req "
        "| machine CPU ms/req "
        "| cores busy | load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        row = run.row
        if row.note:
            lines.append(f"| {run.workers} | {row.connections} | {row.note} |")
            continue
        store = [f"{run.store_cpu_ms.get(name, 0):.2f}" for name in STORE_PROCESSES.values()]
        lines.append(
            f"| {run.workers} | {row.connections} | {row.rps:,.1f} | {row.p50_ms:.1f} "
            f"| {row.p90_ms:.1f} | {row.p99_ms:.1f} | {row.errors_note() or '0'} "
            f"| {row.server_cpu_pct:.0f}% | {app_cpu_ms(row):.2f} | {run.engine_cpu_ms:.2f} "
            f"| {' | '.join(store)} | {run.wal_bytes:,.0f} | {run.machine_cpu_ms:.2f} "
            f"| {run.cores_busy:.2f} "
            f"| {row.load1:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser, connections=[50, 200])
    parser.add_argument("--workers", type=int_list, default=[1, 2], help="e.g. 1,2")
    args = parse_load_options(parser)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: servers stopped, DB dropped
    wrk_path = ensure_wrk()
    engine = engine_alone(ENGINE_CALLS)
    with tempfile.TemporaryDirectory(prefix="process-load-") as tmp:
        runs = measure_runs(args, [wrk_path], Path(tmp))
    print(render(runs, engine, args))
    info = machine_info(wrk_path, "not pinned")
    write_figures(args.json, figures(runs, engine), machine=info, duration_s=args.duration)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
