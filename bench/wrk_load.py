"""Driving a server with wrk: the Lua report every load script shares, one run's figures (Row),
and a measured run with the CPU the server processes used meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from processes import cpu_seconds, wait_until_idle

WRK_TIMEOUT_SECONDS = 10
LUA_REPORT = """local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) gql_errors = 0 end
function response(status, headers, body)
  if string.find(body, '"errors"', 1, true) then gql_errors = gql_errors + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("gql_errors") end
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, n))
end
"""
"""wrk callbacks that count bodies carrying GraphQL `errors` and print one `BENCH` line of totals
and latency percentiles (microseconds); a script sets the requests before it."""
LUA = f"""wrk.method = "POST"
wrk.body = [==[@BODY@]==]
wrk.headers["Content-Type"] = "application/json"
@AUTH@
{LUA_REPORT}"""


def request_script(path: Path, query: str, token: str | None = None) -> Path:
    """`path` written as a wrk script POSTing `query` (with a bearer token if given) to
    every connection, LUA_REPORT's totals at the end."""
    header = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    body = json.dumps({"query": query})
    path.write_text(LUA.replace("@BODY@", body).replace("@AUTH@", header), encoding="utf-8")
    return path


@dataclass
class Row:
    name: str
    server: str
    baseline: str | None
    connections: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu_pct: float = 0.0  # server CPU seconds / wall seconds; under 100 it waited
    load1: float = 0.0  # 1-minute load average after the run; noisy neighbours show here
    rps_per_cpu: float = 0.0  # requests per CPU-second of the server: steadier on a busy host
    ratio: float | None = None
    ratio_target: float | None = None
    cpu_ratio: float | None = None  # the same ratio on rps_per_cpu
    note: str = ""
    wrk_output: str = ""

    def error_summary(self) -> str:
        """Failed responses by kind, e.g. "3 non-2xx, 2 GraphQL errors"; "" for none."""
        return ", ".join(f"{n} {kind}" for kind, n in self.errors.items())

    def errors_note(self) -> str:
        """The error summary out of the requests, in bold; "" without errors."""
        summary = self.error_summary()
        return f"**{summary}** of {self.requests:,} requests" if summary else ""


def run_wrk(wrk: list[str], url: str, script: Path, seconds: int, connections: int) -> str:
    argv = [*wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
            "--timeout", f"{WRK_TIMEOUT_SECONDS}s", "-s", str(script), url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode or "BENCH " not in done.stdout:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def warm_up(wrk: list[str], url: str, script: Path, connections: int, pids: list[int]) -> None:
    """One second of the same load, not counted; then wait for the servers to go idle."""
    run_wrk(wrk, url, script, 1, connections)
    for pid in pids:  # requests left over from the warm-up (slow logins) finish first
        wait_until_idle(pid)


def measure_wrk(row: Row, wrk: list[str], url: str, script: Path, pids: list[int],
                seconds: int) -> None:  # fmt: skip
    """One measured wrk run of `script` at row.connections into `row`, with the CPU the
    server processes `pids` used (summed: 200% is two cores busy)."""
    cpu_before, wall_before = sum(map(cpu_seconds, pids)), time.monotonic()
    row.wrk_output = run_wrk(wrk, url, script, seconds, row.connections)
    cpu_used = sum(map(cpu_seconds, pids)) - cpu_before
    row.server_cpu_pct = 100 * cpu_used / (time.monotonic() - wall_before)
    row.load1 = os.getloadavg()[0]
    bench = row.wrk_output.split("BENCH ", 1)[1].split()
    n, micros, p50, p90, p99, conn, read, write, status, timeout, gql = map(int, bench)
    if n == 0:
        row.note = f"failed: no request completed in {seconds} s"
    row.requests, row.rps = n, n / (micros / 1e6)
    row.rps_per_cpu = row.rps / max(row.server_cpu_pct / 100, 0.01)
    row.p50_ms, row.p90_ms, row.p99_ms = p50 / 1e3, p90 / 1e3, p99 / 1e3
    counts = {"non-2xx": status, "GraphQL errors": gql, "connect": conn, "read": read,
              "write": write, "timeout": timeout}  # fmt: skip
    row.errors = {kind: count for kind, count in counts.items() if count}
