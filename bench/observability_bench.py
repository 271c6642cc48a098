"""The cost of observability: the same queries with metrics, request logs and tracing off vs on.

Five uvicorn processes serve our app on embedded stores, one per configuration, all started
at once and pinned to the same CPU (http_bench's `running`, `measure` and wrk script; wrk on
the other CPU). Each round measures every query on every server in turn (rotating who goes
first), so load from neighbours falls on all configurations alike; every row's req/s is
divided by the same query's req/s on `off` in the same round, and the table holds the
medians over the rounds:

- off: METRICS_ENABLED=false, TRACING_EXPORTER=none, LOG_LEVEL=WARNING (no request lines);
- metrics: /metrics collection on (the default);
- metrics + logs: and one JSON request line per request (LOG_LEVEL=INFO, LOG_FORMAT=json),
  written to the server's log file;
- metrics + logs + tracing: and OpenTelemetry spans exported over OTLP/HTTP (batched) to a
  sink in this process that accepts and discards them.
- metrics + logs + tracing 10%: the same with TRACING_SAMPLE_RATIO=0.1.

Run from the repo root: `.venv/bin/python bench/observability_bench.py [--quick]
[--rounds R] [--duration S] [--connections N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from figures import add_json_option, write_figures
from http_bench import (
    BIN,
    REGISTER,
    RESULTS,
    Scenario,
    Server,
    machine_info,
    measure,
    post,
    render,
    rps_figures,
    running,
    uvicorn_flags,
)
from processes import ensure_wrk, free_port, last_line, pinning
from wrk_load import Row

QUERIES = [
    ("{ systemStatus { uptimeSeconds } }", False),
    ("{ me { id username } }", True),
]
OFF = "off"


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and discards them."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per export would swamp the bench's output."""


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


def configurations(otlp_endpoint: str) -> list[tuple[str, dict[str, str]]]:
    # Thousands of queries an hour from one client would exhaust the query cost budgets and
    # measure refusals instead: the budgets are off (0) on every server alike.
    unlimited = {"QUERY_COST_BUDGET_ANONYMOUS": "0", "QUERY_COST_BUDGET_BASIC": "0"}
    quiet = {**unlimited, "LOG_LEVEL": "WARNING", "TRACING_EXPORTER": "none"}
    logs = {**unlimited, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "TRACING_EXPORTER": "none"}
    return [
        (OFF, {**quiet, "METRICS_ENABLED": "false"}),
        ("metrics", {**quiet, "METRICS_ENABLED": "true"}),
        ("metrics + logs", {**logs, "METRICS_ENABLED": "true"}),
        (
            "metrics + logs + tracing",
            {**logs, "METRICS_ENABLED": "true", "TRACING_EXPORTER": "otlp",
             "OTLP_ENDPOINT": otlp_endpoint},
        ),
        (
            "metrics + logs + tracing 10%",
            {**logs, "METRICS_ENABLED": "true", "TRACING_EXPORTER": "otlp",
             "OTLP_ENDPOINT": otlp_endpoint, "TRACING_SAMPLE_RATIO": "0.1"},
        ),
    ]  # fmt: skip


def server_for(name: str, env: dict[str, str]) -> Server:
    """Our app under uvicorn, with `env` set by env(1): http_bench's `running` pins LOG_LEVEL."""
    assignments = [f"{key}={value}" for key, value in env.items()]
    argv = [
        "env", *assignments,
        str(BIN / "uvicorn"), "--factory", "server.app:app_from_environment", *uvicorn_flags(),
    ]  # fmt: skip
    scenarios = [
        Scenario(f"{name}: {query}", query, None if name == OFF else f"{OFF}: {query}", auth=auth)
        for query, auth in QUERIES
    ]
    slug = name.replace(" + ", "-").replace(" ", "-").replace("%", "pct")
    return Server(f"observability-{slug}", argv, "/ready", scenarios, app=True)


def measure_rounds(
    servers: list[tuple[Server, str, int, str | None]], rounds: int, wrk: list[str],
    args: argparse.Namespace, workdir: Path,
) -> list[list[Row]]:  # fmt: skip
    """Each round measures every scenario of every server once, servers taking turns, so
    a neighbour's load falls on all configurations alike; each row's ratio is against
    its round's `off` row for the same query."""
    result: list[list[Row]] = []
    for order in range(rounds):
        turn = servers[order % len(servers) :] + servers[: order % len(servers)]
        rows: list[Row] = []
        for server, base, pid, token in turn:
            for scenario in server.scenarios:
                row = Row(scenario.name, server.name, scenario.baseline, args.connections)
                if scenario.auth and not token:
                    row.note = "skipped: the benchmark user could not register"
                else:
                    try:
                        measure(row, scenario, base, pid, token, wrk, args, workdir)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        row.note = f"failed: {last_line(str(exc))}"
                print(f"   round {order + 1}: {row.name}: {row.rps:,.0f} req/s {row.note}",
                      file=sys.stderr, flush=True)  # fmt: skip
                rows.append(row)
        by_name = {row.name: row for row in rows}
        for row in rows:
            if (base_row := by_name.get(row.baseline or "")) and base_row.rps and row.rps:
                row.ratio = row.rps / base_row.rps
                row.cpu_ratio = row.rps_per_cpu / base_row.rps_per_cpu
        result.append(rows)
    return result


def median_rows(rounds: list[list[Row]]) -> list[Row]:
    """Per scenario: the median of each number over the rounds (ratios: of the per-round
    ratios, each against the baseline of its own round)."""
    merged: list[Row] = []
    for first in rounds[0]:
        same = [row for rows in rounds for row in rows if row.name == first.name and not row.note]
        if not same:
            merged.append(first)
            continue
        row = Row(first.name, first.server, first.baseline, first.connections)
        for attribute in ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_pct", "load1",
                          "rps_per_cpu"):  # fmt: skip
            setattr(row, attribute, statistics.median(getattr(r, attribute) for r in same))
        row.requests = sum(r.requests for r in same)
        errors: dict[str, int] = {}
        for r in same:
            for kind, count in r.errors.items():
                errors[kind] = errors.get(kind, 0) + count
        row.errors = errors
        ratios = [r.ratio for r in same if r.ratio is not None]
        cpu_ratios = [r.cpu_ratio for r in same if r.cpu_ratio is not None]
        row.ratio = statistics.median(ratios) if ratios else None
        row.cpu_ratio = statistics.median(cpu_ratios) if cpu_ratios else None
        merged.append(row)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per row")
    parser.add_argument("--connections", type=int, default=50, help="open wrk connections")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--quick", action="store_true", help="one round of 3-second rows")
    add_json_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 3, 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so servers are stopped
    wrk_path = ensure_wrk()
    server_pin, wrk_pin, pinned = pinning()
    info = machine_info(wrk_path, pinned)
    info["rounds"] = args.rounds
    with (
        otlp_sink() as endpoint,
        tempfile.TemporaryDirectory(prefix="obs-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        servers: list[tuple[Server, str, int, str | None]] = []
        for name, env in configurations(endpoint):
            server = server_for(name, env)
            print(f"== starting {name}", file=sys.stderr, flush=True)
            base, pid = stack.enter_context(running(server, server_pin, workdir))
            data, _ = post(base + "/graphql", REGISTER)
            token = data["register"]["accessToken"] if isinstance(data, dict) else None
            servers.append((server, base, pid, token))
        rounds = measure_rounds(servers, args.rounds, [*wrk_pin, wrk_path], args, workdir)
    rows = median_rows(rounds)
    table = render(rows, info, args).replace("# HTTP benchmark", "# Observability overhead", 1)
    table += (
        f"\nAll the servers run at once (idle but for the one measured); medians over "
        f"{args.rounds} round(s), each ratio against `off` in its own round.\n"
    )
    print(table)
    for row in rows:
        if row.ratio is not None and row.cpu_ratio is not None:
            print(
                f"overhead ratio {row.name}: {row.ratio:.3f}x req/s, {row.cpu_ratio:.3f}x req/CPU-s"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "observability.md").write_text(table, encoding="utf-8")
    payload = {"machine": info, "duration_s": args.duration, "connections": args.connections,
               "rows": [asdict(row) for row in rows],
               "rounds": [[asdict(row) for row in rows] for rows in rounds]}  # fmt: skip
    (RESULTS / "observability.json").write_text(json.dumps(payload, indent=2) + "\n")
    figures = [f for f in rps_figures(rows, "extra: observability", "observability") if f.baseline]
    for figure in figures:
        figure.note += f"; median of {args.rounds} round(s), ratio per round against `off`"
    write_figures(args.json, figures, machine=info)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
