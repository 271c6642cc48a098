"""`process` through nginx on two `consciousness serve` processes against one process direct.

Scenario 9 of `make bench`. The stores: a fresh PostgreSQL database and a unique Redis key
prefix (bench/stack.py), the ENTERPRISE benchmark user and as many ACTIVE agents as
connections. Two `consciousness serve` processes, each with its own DATA_DIR (so its own
embedded chDB), and Debian's nginx running deploy/nginx.conf in front of them
(tests/deploy/balancer.py, the scale-out test's load balancer). wrk (one thread) keeps C
`process` mutations in flight, each for the next agent in turn (bench/process_load_bench.py's
script), first against the first process directly, then through nginx against both.

Same run, same processes, same database: the ratio is nginx-over-two req/s over one-direct
req/s (2.0x would be perfect; everything shares the machine's cores, nginx included), and the
p99 of each against the 200 ms target. Server CPU is the two processes' (nginx's not counted).

Run from the repo root: `.venv/bin/python bench/balancer_bench.py [--quick] [--duration S]
[--connections 200] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from figures import Figure, add_load_options, parse_load_options, write_figures
from http_bench import ROOT, machine_info
from process_load_bench import P99_TARGET_MS, seed
from processes import (
    ServerDidNotStart,
    ensure_wrk,
    last_line,
    stop_session,
    wait_until_ready,
)
from stack import BIN, create_bench_user, fresh_database, redis_prefix, stack_env
from wrk_load import Row, measure_wrk, warm_up

sys.path.insert(0, str(ROOT))
from tests.deploy.balancer import load_balancer, nginx_binary
from tests.servers import free_port

SCENARIO = "9. load balancer"


@contextlib.contextmanager
def servers(count: int, env: dict[str, str], workdir: Path) -> Iterator[list[tuple[str, int]]]:
    """`count` `consciousness serve` processes, each with its own DATA_DIR; (URL, pid) each."""
    procs: list[subprocess.Popen[bytes]] = []
    started = []
    try:
        for index in range(count):
            data_dir, port = workdir / f"server{index}", free_port()
            log = workdir / f"server{index}.log"
            with log.open("wb") as out:
                procs.append(subprocess.Popen(
                    [str(BIN / "consciousness"), "serve", "--port", str(port)],
                    # SERVING_PROCESSES as deploy/compose.yaml sets it for servers sharing a host
                    env=env | {"DATA_DIR": str(data_dir), "SERVING_PROCESSES": str(count)},
                    cwd=workdir, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True,
                ))  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(procs, url + "/ready", log)
            started.append((url, procs[-1].pid))
        yield started
    finally:
        for proc in procs:
            stop_session(proc)


def measure(args: argparse.Namespace, wrk: list[str], nginx: str, workdir: Path) -> list[Row]:
    """At each concurrency: one process direct, then nginx over both."""
    rows: list[Row] = []
    with fresh_database("balancer") as database_url, redis_prefix("balancer") as prefix:
        env = stack_env(workdir / "server0", database_url, prefix, secrets.token_urlsafe(48))
        create_bench_user(env, workdir)
        with servers(2, env, workdir) as started:
            (first, first_pid), (_, second_pid) = started
            addresses = [url.removeprefix("http://") for url, _ in started]
            script = seed(first, max(args.connections), workdir)
            with load_balancer(nginx, addresses, workdir / "nginx") as balancer:
                for connections in args.connections:
                    for name, url, pids in (
                        ("1 process, direct", first, [first_pid]),
                        ("2 processes behind nginx", balancer, [first_pid, second_pid]),
                    ):
                        row = Row(name, name, None, connections)
                        try:
                            warm_up(wrk, url + "/graphql", script, connections, pids)
                            measure_wrk(row, wrk, url + "/graphql", script, pids, args.duration)
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            row.note = f"failed: {last_line(str(exc))}"
                        print(f"   {name}, c={connections}: {row.rps:,.1f} req/s, "
                              f"p99 {row.p99_ms:.0f} ms {row.note}",
                              file=sys.stderr, flush=True)  # fmt: skip
                        rows.append(row)
    return rows


def figures(rows: list[Row]) -> list[Figure]:
    """req/s (against one process direct) and p99 of each row, at each concurrency."""
    result = []
    direct = {row.connections: row for row in rows if row.name.startswith("1 ") and not row.note}
    for row in rows:
        c, behind = row.connections, not row.name.startswith("1 ")
        key = f"balancer.{'nginx2' if behind else 'direct1'}.c{c}"
        base = direct.get(c) if behind else None
        value = None if row.note else row.rps
        note = row.note or row.errors_note()
        result += [
            Figure(f"{key}.rps", SCENARIO, f"req/s, {row.name}, c={c}", value, "req/s",
                   f"1 process direct, c={c}" if behind else "",
                   base.rps if base else None,
                   note=note or ("ideal 2.0x; nginx shares the cores" if behind else "")),
            Figure(f"{key}.p99_ms", SCENARIO, f"p99, {row.name}, c={c}",
                   None if row.note else row.p99_ms, "ms",
                   f"1 process direct, c={c}" if behind else "",
                   base.p99_ms if base else None, "<", P99_TARGET_MS),
        ]  # fmt: skip
    return result


def render(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"`process` on PostgreSQL + Redis, wrk -t1 for {args.duration} s after a 1 s warm-up",
        "",
        "| server | c | req/s | ratio | p50 ms | p99 ms | errors | server CPU | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    direct = {row.connections: row for row in rows if row.name.startswith("1 ") and not row.note}
    for row in rows:
        if row.note:
            lines.append(f"| {row.name} | {row.connections} | {row.note} |")
            continue
        base = direct.get(row.connections) if not row.name.startswith("1 ") else None
        ratio = f"{row.rps / base.rps:.2f}x" if base and base.rps else ""
        lines.append(
            f"| {row.name} | {row.connections} | {row.rps:,.1f} | {ratio} | {row.p50_ms:.1f} "
            f"| {row.p99_ms:.1f} | {row.errors_note() or '0'} | {row.server_cpu_pct:.0f}% "
            f"| {row.load1:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser, connections=[200])
    args = parse_load_options(parser)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: servers stopped, DB dropped
    wrk_path = ensure_wrk()
    nginx = nginx_binary()
    if nginx is None:
        subprocess.run(["sh", str(ROOT / "tests" / "deploy" / "setup.sh")], check=False)
        nginx = nginx_binary()
    if nginx is None:
        sys.exit("nginx is not installed: run `make deploy-deps` as root, then run this again")
    with tempfile.TemporaryDirectory(prefix="balancer-") as tmp:
        try:
            rows = measure(args, [wrk_path], nginx, Path(tmp))
        except ServerDidNotStart as exc:
            sys.exit(f"the servers did not start: {exc}")
    print(render(rows, args))
    write_figures(args.json, figures(rows), machine=machine_info(wrk_path, "not pinned"),
                  duration_s=args.duration)  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
