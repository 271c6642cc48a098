"""`process` with its serving worker alone on a core: the `process` target where the worker,
not the machine, is what runs out.

Scenario 3 runs on 2 cores that the worker shares with its engine process, PostgreSQL, Redis
and wrk: it is bound by the machine (its machine CPU per request over 2 cores is its req/s),
so it cannot say whether the worker would meet its target where every part has a core of its
own. Here the one worker (uvicorn, as in scenario 3) is alone on CPU 0 and everything else,
its engine worker process, every PostgreSQL and Redis process and wrk, is on CPU 1; bare
strawberry + caches answering `{ hello }` (the floor's baseline) is on CPU 0 with wrk on
CPU 1. Each figure is requests per CPU-second of the serving process (/proc), which does not
depend on how much of CPU 1 was left: the ratio is the one a one-worker run would show if
the worker were the bottleneck, over HTTP, as the target is stated (against the same
baseline, in the same run). Both servers stay up and the rounds alternate them; the ratio is
the median of the per-round ratios. The stores' affinity is restored afterwards.

The worker sends every input to its engine process, as `serve` does where a core is left
over for it (server/engine_processes.py), so the engine's CPU is not the worker's.

With `--writers-elsewhere` the worker runs with BACKGROUND_WRITERS=false and a second
process, on CPU 1 with the rest, drains the metrics outbox and embeds the sessions (into chDB
and Qdrant's local mode in a data folder of its own, standing for the servers a deployment
that splits them shares): the worker's cost where the writers run elsewhere.

Run from the repo root: `.venv/bin/python bench/process_pinned_bench.py [--rounds 3]
[--duration 10] [--writers-elsewhere] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from figures import Figure, add_json_option, write_figures
from http_bench import machine_info, running, servers
from process_load_bench import Run, measure, seed, workers
from processes import STORE_PROCESSES, ensure_wrk, move_children, move_process, process_stats
from stack import consciousness, create_bench_user, fresh_database, redis_prefix, stack_env
from wrk_load import Row, measure_wrk, request_script, warm_up

SCENARIO = "extra: process, worker on its own core"
CONNECTIONS = 50
RATIO_TARGET = 0.15  # the `process` target of scenario 3, against the same baseline
APP_CPU, REST_CPU = {0}, {1}


@contextlib.contextmanager
def stores_moved(cpus: set[int]) -> Iterator[int]:
    """Every PostgreSQL and Redis process on `cpus`, put back as it was on the way out; how
    many were moved."""
    moved = {}
    for stat in process_stats():
        if stat.name in STORE_PROCESSES:
            with contextlib.suppress(OSError):  # a backend that ended since
                moved[stat.pid] = os.sched_getaffinity(stat.pid)
                move_process(stat.pid, cpus)
    try:
        yield len(moved)
    finally:
        for pid, cpus_before in moved.items():
            with contextlib.suppress(OSError):
                move_process(pid, cpus_before)


def measure_rounds(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], list[Run]]:
    """Alternating measured runs of the floor's `{ hello }` and of `process`, both pinned."""
    wrk = ["taskset", "-c", "1", ensure_wrk()]
    floor = next(server for server in servers() if server.name == "bare-strawberry-cached")
    hellos: list[Row] = []
    processes: list[Run] = []
    with (
        fresh_database("pinned") as database_url,
        redis_prefix("pinned") as prefix,
        running(floor, ["taskset", "-c", "0"], workdir) as (floor_base, floor_pid),
    ):
        env = stack_env(workdir / "worker0", database_url, prefix, secrets.token_urlsafe(48))
        create_bench_user(env, workdir)
        serving = env | {"BACKGROUND_WRITERS": "false"} if args.writers_elsewhere else env
        with (
            workers(1, serving, workdir) as (base, pids),
            writers(env, workdir, args.writers_elsewhere) as writer_pids,
            stores_moved(REST_CPU),
        ):
            script = seed(base, CONNECTIONS, workdir)
            move_process(pids[0], APP_CPU)
            move_children(pids[0], REST_CPU)  # its engine worker process(es), started with it
            for pid in writer_pids:
                move_process(pid, REST_CPU)
            floor_url = floor_base + "/graphql"
            floor_script = request_script(workdir / "hello.lua", "{ hello }")
            for index in range(args.rounds):
                print(f"== round {index + 1} of {args.rounds}", file=sys.stderr, flush=True)
                hello = Row("{ hello }", floor.name, None, CONNECTIONS)
                warm_up(wrk, floor_url, floor_script, CONNECTIONS, [floor_pid])
                measure_wrk(hello, wrk, floor_url, floor_script, [floor_pid], args.duration)
                run = Run(1, Row("process", "1 worker", None, CONNECTIONS))
                warm_up(wrk, base + "/graphql", script, CONNECTIONS, pids)
                measure(run, wrk, base + "/graphql", script, pids, args.duration, database_url)
                print(f"   {{ hello }} {hello.rps_per_cpu:,.0f}, process "
                      f"{run.row.rps_per_cpu:,.0f} req per CPU-second {run.row.errors_note()}",
                      file=sys.stderr, flush=True)  # fmt: skip
                hellos.append(hello)
                processes.append(run)
    return hellos, processes


@contextlib.contextmanager
def writers(env: dict[str, str], workdir: Path, wanted: bool) -> Iterator[list[int]]:
    """With `wanted`, a process that takes no traffic and writes (its own chDB and vector
    folder, no engine process); its pid."""
    if not wanted:
        yield []
        return
    folder = workdir / "writers"
    folder.mkdir()
    own = env | {"ENGINE_PROCESSES": "0"}
    consciousness(["migrate"], own | {"DATA_DIR": str(folder / "worker0")}, workdir)
    with workers(1, own, folder) as (_base, pids):
        yield pids


def figures(hellos: list[Row], runs: list[Run], writers_elsewhere: bool) -> list[Figure]:
    key = "pinned.process_writers_elsewhere" if writers_elsewhere else "pinned.process"
    scenario = SCENARIO + (", writers in another process" if writers_elsewhere else "")
    rows = [run.row for run in runs]
    ratios = [row.rps_per_cpu / hello.rps_per_cpu for row, hello in zip(rows, hellos, strict=True)]
    hello_rate = statistics.median(hello.rps_per_cpu for hello in hellos)
    process_rate = statistics.median(row.rps_per_cpu for row in rows)
    errors = "; ".join(filter(None, (row.errors_note() for row in rows)))
    rounds = f"median of {len(rows)} rounds"
    return [
        Figure(f"{key}.rps_per_cpu", scenario,
               f"process per worker CPU-second, 1 worker on its own core, c={CONNECTIONS}",
               process_rate, "req/s", "bare strawberry + caches { hello } per server "
               "CPU-second, pinned the same way", hello_rate, ratio=statistics.median(ratios),
               ratio_target=RATIO_TARGET,
               note=errors or f"{rounds}, ratio per round: "
               + ", ".join(f"{ratio:.3f}x" for ratio in ratios)),
        Figure(f"{key}.app_cpu_ms", scenario, "worker CPU per request, on its own core",
               1000 / process_rate, "ms", "{ hello } server CPU per request, pinned the same way",
               1000 / hello_rate, note=f"{rounds}; worker CPU "
               + ", ".join(f"{row.server_cpu_pct:.0f}%" for row in rows)),
        Figure(f"{key}.engine_cpu_ms", scenario,
               "engine process CPU per request, on the other core",
               statistics.median(run.engine_cpu_ms for run in runs), "ms", note=rounds),
        Figure(f"{key}.state_retries_pct", scenario, "calls redone under the agent's row lock",
               statistics.median(100 * run.state_retries for run in runs  # one worker: counted
                                 if run.state_retries is not None), "%",
               note=f"{rounds}; the compare-and-set lost to a concurrent call on the agent"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument(
        "--writers-elsewhere",
        action="store_true",
        help="the worker only stages; another process on CPU 1 writes ClickHouse and Qdrant",
    )
    add_json_option(parser)
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("this benchmark pins the worker and the rest to different cores: 2 or more")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stores put back
    with tempfile.TemporaryDirectory(prefix="process-pinned-") as tmp:
        hellos, runs = measure_rounds(args, Path(tmp))
    result = figures(hellos, runs, args.writers_elsewhere)
    for figure in result:
        baseline = f"baseline {figure.baseline_value or 0:,.3g}, ratio {figure.ratio or 0:.3f}x"
        print(f"{figure.figure}: {figure.value:,.3g} {figure.unit} ({baseline}) {figure.note}")
    info = machine_info(ensure_wrk(), "worker on CPU 0; engine, stores and wrk on CPU 1")
    write_figures(args.json, result, machine=info, duration_s=args.duration)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
