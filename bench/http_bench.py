"""HTTP throughput of our GraphQL app against bare Starlette and bare strawberry, driven by wrk.

Each server is its own uvicorn process (one worker, identical flags) on a free 127.0.0.1 port,
one server at a time; with 2+ cores and `taskset` the server is pinned to CPU 0 and wrk to
CPU 1. A wrk Lua script sends the POST body and headers, counts bodies carrying GraphQL
`errors`, and prints requests, latency percentiles and socket/non-2xx errors from wrk's own
histogram (the `--latency` text is kept in http.json). Each row's req/s is divided by its
baseline's, measured in the same run; so is its req/s per CPU-second the server used, which
is steadier when neighbours steal the server's CPU (see the server CPU and load columns).
Run from the repo root:
`.venv/bin/python bench/http_bench.py [--quick] [--duration S] [--connections N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from figures import Figure, add_json_option, number, slug, write_figures
from processes import (
    ServerDidNotStart,
    ensure_wrk,
    free_port,
    last_line,
    pinning,
    stop_session,
    wait_until_ready,
)
from wrk_load import Row, measure_wrk, request_script, warm_up

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
PASSWORD = "correct horse battery staple"  # a throwaway benchmark user's
REGISTER = (
    'mutation { register(input: {username: "bench", email: "bench@example.org", '
    f'password: "{PASSWORD}"}}) {{ accessToken }} }}'
)
LOGIN = f'mutation {{ login(username: "bench", password: "{PASSWORD}") {{ accessToken }} }}'
LOGIN_CONNECTIONS = 4  # Argon2 is CPU-bound by design: 50 queued logins would only time out
FLOOR, BARE, CACHED = "starlette JSON (floor)", "strawberry, no caches", "strawberry + caches"


@dataclass(frozen=True)
class Scenario:
    name: str
    query: str
    baseline: str | None  # the scenario whose req/s divides this one's
    path: str = "/graphql"
    auth: bool = False  # send `Authorization: Bearer <token of the registered user>`
    connections: int | None = None  # a cap below --connections
    ratio_target: float | None = None  # req/s over the baseline's, at least (issue targets)


@dataclass(frozen=True)
class Server:
    name: str
    argv: list[str]  # host and port are appended, and the shared flags when it is uvicorn
    ready_path: str
    scenarios: list[Scenario]
    app: bool = False  # our app: a temporary DATA_DIR, JWT_SECRETS, a registered user


def uvicorn_flags() -> list[str]:
    """The flags every server gets: one worker, no access log, uvloop + httptools if present."""
    flags = ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    if importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools"):
        flags += ["--loop", "uvloop", "--http", "httptools"]
    return flags


def servers() -> list[Server]:
    bare = [str(BIN / "uvicorn"), "--app-dir", str(ROOT / "bench" / "servers")]
    # The ASGI app `consciousness serve` runs, after `consciousness migrate`, with shared flags.
    app = [str(BIN / "uvicorn"), "--factory", "server.app:app_from_environment"]
    hello = "/graphql?query={hello}"
    return [
        Server("bare-starlette", [*bare, "bare_starlette:app"], "/",
               [Scenario(FLOOR, "{ hello }", None, path="/")]),
        Server("bare-strawberry", [*bare, "bare_strawberry:app"], hello,
               [Scenario(BARE, "{ hello }", FLOOR)]),
        Server("bare-strawberry-cached", [*bare, "bare_strawberry:app_cached"], hello,
               [Scenario(CACHED, "{ hello }", BARE)]),
        Server("app", app, "/ready", [
            Scenario("app { __typename }", "{ __typename }", CACHED, ratio_target=0.8),
            Scenario("app { systemStatus { uptimeSeconds } }", "{ systemStatus { uptimeSeconds } }",
                     CACHED),
            Scenario("app { systemHealth { status } }", "{ systemHealth { status } }", CACHED),
            Scenario("app login (Argon2)", LOGIN, CACHED, connections=LOGIN_CONNECTIONS),
            Scenario("app { me { id username } }", "{ me { id username } }", CACHED, auth=True,
                     ratio_target=0.6),
        ], app=True),
        Server("app-serve", [str(BIN / "consciousness"), "serve"], "/ready", [
            Scenario("`consciousness serve` { systemStatus { uptimeSeconds } }",
                     "{ systemStatus { uptimeSeconds } }", CACHED)], app=True),
    ]  # fmt: skip


def machine_info(wrk: str, pinning: str) -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": models[0] if models else platform.processor() or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": (version.stdout + version.stderr).split(" [")[0].strip(),
        "uvicorn_flags": " ".join(uvicorn_flags()),
        "pinning": pinning,
    }


def post(url: str, query: str, token: str | None = None) -> tuple[object, str]:
    """One GraphQL request: its `data`, and its first error as `CODE: message` (or "")."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps({"query": query}).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return None, f"HTTP {exc.code}: {exc.read()[:160]!r}"
    for error in answer.get("errors") or []:
        return None, f"{error.get('extensions', {}).get('code', 'ERROR')}: {error['message']}"
    return answer.get("data"), ""


def embedded_stores(workdir: Path) -> dict[str, str]:
    """Our app's environment on embedded stores in a fresh DATA_DIR, whatever the caller's."""
    return {"DATA_DIR": str(workdir), "JWT_SECRETS": secrets.token_urlsafe(48),
            "DATABASE_URL": "", "REDIS_URL": "", "CLICKHOUSE_URL": "",
            "LOG_LEVEL": "WARNING", "ACCESS_TOKEN_TTL_SECONDS": "3600",
            # the hourly query-cost budgets would refuse a benchmark's traffic in seconds
            "QUERY_COST_BUDGET_ANONYMOUS": "0", "QUERY_COST_BUDGET_BASIC": "0"}  # fmt: skip


@contextlib.contextmanager
def running(server: Server, pin: list[str], workdir: Path,
            stores: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:  # fmt: skip
    """Start the server in its own session, poll until it is ready, always stop it.

    Our app gets `stores` (its store URLs and secrets), or embedded stores by default.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if server.app:
        env |= embedded_stores(workdir / server.name) if stores is None else stores
        if "--factory" in server.argv:  # what `consciousness serve` does before uvicorn
            migrate = [str(BIN / "consciousness"), "migrate"]
            done = subprocess.run(migrate, env=env, cwd=workdir, capture_output=True, text=True)
            if done.returncode:
                raise ServerDidNotStart(f"migrate failed: {last_line(done.stderr)}")
    port = free_port()
    argv = [*pin, *server.argv, "--host", "127.0.0.1", "--port", str(port)]
    argv += uvicorn_flags() if server.argv[0].endswith("uvicorn") else []
    log = workdir / f"{server.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready([proc], base + server.ready_path, log)
        yield base, proc.pid
    finally:
        stop_session(proc)


def measure(row: Row, scenario: Scenario, base: str, pid: int, token: str | None,
            wrk: list[str], args: argparse.Namespace, workdir: Path) -> None:  # fmt: skip
    url, auth = base + scenario.path, token if scenario.auth else None
    if scenario.path == "/graphql":  # one request first: a missing or failing field says why
        _, error = post(url, scenario.query, auth)
        if error:
            row.note = f"skipped: {error}"
            return
    script = request_script(workdir / "request.lua", scenario.query, auth)
    warm_up(wrk, url, script, row.connections, [pid])
    measure_wrk(row, wrk, url, script, [pid], args.duration)


def run_server(server: Server, pin: list[str], wrk: list[str], args: argparse.Namespace,
               workdir: Path) -> list[Row]:  # fmt: skip
    """Start one server, register the benchmark user on our app, measure each scenario."""
    rows = []
    with running(server, pin, workdir) as (base, pid):
        token: str | None = None
        why = "not our app"
        if server.app:
            data, why = post(base + "/graphql", REGISTER)
            token = data["register"]["accessToken"] if isinstance(data, dict) else None
        for scenario in server.scenarios:
            connections = min(scenario.connections or args.connections, args.connections)
            row = Row(scenario.name, server.name, scenario.baseline, connections)
            row.ratio_target = scenario.ratio_target
            if scenario.auth and not token:
                row.note = f"skipped: register failed: {why}"
            else:
                try:
                    measure(row, scenario, base, pid, token, wrk, args, workdir)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.note = f"failed: {last_line(str(exc))}"
            print(f"   {row.name}: {row.rps:,.0f} req/s {row.note}", file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def render(rows: list[Row], info: dict[str, object], args: argparse.Namespace) -> str:
    lines = [
        f"# HTTP benchmark ({info['date']})", "",
        f"{info['nproc']} CPUs ({info['cpu_model']}), Python {info['python']}, {info['wrk']}; "
        f"uvicorn `{info['uvicorn_flags']}`; {info['pinning']}; "
        f"`wrk -t1 -c{args.connections} -d{args.duration}s` after a 1 s warm-up.", "",
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU | req/CPU-s | load "
        "| ratio (req/s) | ratio (req/CPU-s) | baseline |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    for row in rows:
        if row.note:
            lines.append(f"| {row.name} | - | - | - | - | {row.note} | - | - | - | - | - | - |")
            continue
        errors = row.error_summary()
        ratios = [f"{r:.3g}x" if r is not None else "-" for r in (row.ratio, row.cpu_ratio)]
        conns = f" (c={row.connections})" if row.connections != args.connections else ""
        lines.append(
            f"| {row.name}{conns} | {row.rps:,.0f} | {row.p50_ms:.2f} | {row.p90_ms:.2f} | "
            f"{row.p99_ms:.2f} | {f'**{errors}**' if errors else '0'} | "
            f"{row.server_cpu_pct:.0f}% | {row.rps_per_cpu:,.0f} | {row.load1:.1f} | "
            f"{' | '.join(ratios)} | {row.baseline or '(baseline)'} |"
        )
    return "\n".join(lines) + "\n"


def rps_figures(rows: list[Row], scenario: str, prefix: str) -> list[Figure]:
    """Each row's req/s against its baseline row's (row.ratio), latency and errors as its note."""
    by_name = {row.name: row for row in rows}
    figures = []
    for row in rows:
        base = by_name.get(row.baseline or "")
        errors = row.error_summary()
        note = row.note or (
            f"p50 {number(row.p50_ms)} ms, p99 {number(row.p99_ms)} ms, "
            f"server CPU {row.server_cpu_pct:.0f}%" + (f"; **{errors}**" if errors else "")
        )
        figures.append(
            Figure(
                f"{prefix}.{slug(row.name)}", scenario, f"{row.name}, c={row.connections}",
                None if row.note else row.rps, "req/s", base.name if base else "",
                base.rps if base and not base.note else None, note=note, ratio=row.ratio,
                ratio_target=row.ratio_target,
            )
        )  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per row")
    parser.add_argument("--connections", type=int, default=50, help="open wrk connections")
    parser.add_argument("--quick", action="store_true", help="a 3-second smoke run per row")
    add_json_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.duration = 3
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so servers are stopped
    wrk_path = ensure_wrk()
    server_pin, wrk_pin, pinned = pinning()
    info = machine_info(wrk_path, pinned)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        for server in servers():
            print(f"== {server.name}", file=sys.stderr, flush=True)
            try:
                rows += run_server(server, server_pin, [*wrk_pin, wrk_path], args, Path(tmp))
            except ServerDidNotStart as exc:
                note = f"skipped: {server.name} did not start: {exc}"
                print(f"   {note}", file=sys.stderr)
                rows += [Row(s.name, server.name, s.baseline, note=note) for s in server.scenarios]
    by_name = {row.name: row for row in rows}
    for row in rows:
        if (base := by_name.get(row.baseline or "")) and base.rps and row.rps:
            row.ratio, row.cpu_ratio = row.rps / base.rps, row.rps_per_cpu / base.rps_per_cpu
    table = render(rows, info, args)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "http.md").write_text(table, encoding="utf-8")
    payload = {"machine": info, "duration_s": args.duration, "connections": args.connections,
               "rows": [asdict(row) for row in rows]}  # fmt: skip
    (RESULTS / "http.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    write_figures(args.json, rps_figures(rows, "1. floor", "floor"), machine=info)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
