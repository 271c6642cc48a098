"""`make bench`: every benchmark scenario in turn, collected into one table with its baselines.

Each scenario is a script in bench/ run as its own process, one after another (never two at
once), bounded in time; it writes its figures as JSON (`--json`, bench/figures.py), and the
fan-out script its own bench/results/fanout.json, read here. The table (markdown and JSON)
gives every figure with its baseline, measured in the same run of the same script, the ratio
and the target; then the projection for 10,000 clients (bench/projection.py) and the machine.
A scenario that fails is recorded with its error, the others still run, and the suite exits 1.

Writes bench/results/latest.md and latest.json (scratch, with each script's log); a full run
(or `--publish`) also copies them to bench/LATEST.md and bench/latest.json, which README links.
Run from the repo root: `.venv/bin/python bench/suite.py [--quick] [--only NAMES] [--skip NAMES]
[--publish]`, NAMES comma-separated from: floor, agents, process, fanout, analytics, engine,
ethics, lag, listing, grouping, balancer, observability, otlp, abuse, vectors, alerts,
pinned.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from figures import Figure, number, read_figures
from http_bench import RESULTS, ROOT, machine_info
from processes import ensure_wrk, last_line
from projection import FANOUT_P99_TARGET_MS, project

BENCH = ROOT / "bench"
PUBLISHED_MD, PUBLISHED_JSON = BENCH / "LATEST.md", BENCH / "latest.json"
FANOUT_JSON = RESULTS / "fanout.json"
FANOUT_KB_TARGET = 50.0
STOP_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Job:
    name: str  # for --only and --skip
    scenarios: str  # the table's sections it fills
    script: str
    quick: tuple[str, ...]  # arguments of a --quick run (a full run passes none)
    timeout_minutes: float
    about: str
    always: tuple[str, ...] = ()  # arguments of every run, full or quick

    def arguments(self, quick: bool) -> tuple[str, ...]:
        """The script's arguments in a full run or a quick one (before `--json`)."""
        return (*self.always, *(self.quick if quick else ()))


JOBS = (
    Job("floor", "1. floor", "http_bench.py", ("--quick",), 20,
        "bare Starlette, bare strawberry (with and without caches) and our app's cheapest "
        "queries, login and `me`, wrk at c=50, server on CPU 0 and wrk on CPU 1"),
    Job("agents", "2. agents(first: 20)", "agents_load_bench.py", ("--quick",), 20,
        "authenticated `agents(first: 20)` with owner and stats on `consciousness serve` "
        "(PostgreSQL + Redis), and the floor servers, each at c=1, 50 and 200"),
    Job("process", "3. process, 7. scale-out", "process_load_bench.py", ("--quick",), 20,
        "`process` on PostgreSQL + Redis, one agent per connection in turn, c=50 and 200, on "
        "1 and 2 uvicorn workers sharing one socket; baseline: the engine alone"),
    Job("pinned", "extra: process, worker on its own core", "process_pinned_bench.py",
        ("--rounds", "2", "--duration", "4"), 10,
        "`process` on PostgreSQL + Redis with the one worker alone on CPU 0 and its engine "
        "process, the stores and wrk on CPU 1, against the floor's `{ hello }` pinned the same "
        "way: requests per CPU-second of each serving process, alternating rounds"),
    Job("pinned-writers", "extra: process, worker on its own core, writers in another process",
        "process_pinned_bench.py", ("--rounds", "2", "--duration", "4"), 10,
        "`pinned` with BACKGROUND_WRITERS=false on the worker and a process that drains the "
        "outbox and embeds the sessions beside the rest on CPU 1",
        always=("--writers-elsewhere",)),
    Job("fanout", "4. fan-out", "fanout_bench.py", ("--subscribers", "1000", "--duration", "5"),
        45, "websocket subscribers of `agentEvents` on `consciousness serve` against a bare "
        "Starlette relay of the same Redis channel and that relay as raw ASGI, the floor "
        "(1,000 at 5 events/s, 10,000 at 1/s)"),
    Job("analytics", "5. analytics", "analytics_bench.py", ("--rows", "50000", "--runs", "5"),
        10, "AnalyticsWriter ingestion and a p95-by-agent query over 1,000,000 rows, against "
        "clickhouse-connect on the same embedded chDB"),
    Job("engine", "6. engine", "engine_bench.py", ("--rounds", "50"), 10,
        "engine.process on 1 KB and 10 KB inputs against VADER alone"),
    Job("ethics", "8. ethics guard", "ethics_bench.py", ("--rounds", "50"), 10,
        "the ethics stage on SimpleSafetyTests and our labelled set (bench/data): the previous "
        "engine (git archive of its commit), rules only, rules + static semantic layer and "
        "rules + static + contextual (MiniLM); process() speed with each against VADER per "
        "sentence; model load and memory"),
    Job("lag", "extra: event-loop lag", "process_bench.py",
        ("--duration", "5", "--steady-seconds", "10"), 10,
        "a `{ __typename }` probe's latency while `process` runs at c=50, embedded stores"),
    Job("listing", "extra: agents listing, in-process", "agents_bench.py",
        ("--requests", "50"), 10, "agents(first: 20) and (first: 100) with owner and stats "
        "through httpx.ASGITransport, one at a time, at 1,000 and 1,000,000 metrics rows, "
        "against bare strawberry returning the same shape"),
    Job("grouping", "extra: grouped fan-out", "fanout_grouping_bench.py",
        ("--subscribers", "100", "--seconds", "3"), 15,
        "500 subscribers of one operation, grouped against ungrouped"),
    Job("balancer", "9. load balancer", "balancer_bench.py", ("--quick",), 20,
        "`process` at c=200 through nginx (deploy/nginx.conf) on two `consciousness serve` "
        "processes against one process direct, PostgreSQL + Redis"),
    Job("observability", "extra: observability", "observability_bench.py", ("--quick",), 45,
        "metrics, JSON request logs and tracing on against everything off"),
    Job("otlp", "extra: OTLP ingestion", "otlp_bench.py", ("--requests", "5"), 15,
        "GenAI spans POSTed to /v1/traces and stored as sessions by one process's ingestion "
        "worker, against decoding the same payloads alone"),
    Job("vectors", "extra: session embeddings", "vectors_bench.py",
        ("--sessions", "500", "--vectors", "20000", "--runs", "10"), 20,
        "VectorWriter ingestion (claim, embed, upsert, flag) and the similarSessions vector "
        "query over 100,000 vectors, against qdrant-client directly on the same local mode"),
    Job("alerts", "extra: alerts", "alerts_bench.py", ("--runs", "3"), 10,
        "one alert evaluation cycle of 1,000 rules over 1,000,000 rows (grouped queries) "
        "against one p95-by-agent query over the same rows, and one query per rule"),
    Job("abuse", "extra: abuse", "abuse_bench.py", ("--seconds", "8"),
        10, "a signed-in client's `{ me { id } }` p99 while 3 anonymous clients send aliased "
        "introspection, one sends `process` with 20,000 emoji and one floods APQ, against "
        "its idle p99"),
)  # fmt: skip


@dataclass
class Outcome:
    job: str
    argv: list[str]
    seconds: float = 0.0
    error: str = ""  # empty when the script ran and wrote its figures


def machine(wrk: str) -> dict[str, Any]:
    info = machine_info(wrk, "")
    for key in ("pinning", "uvicorn_flags"):  # per script: each states its own
        info.pop(key, None)
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").split()
    info["memory_gib"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1)
    info["kernel"] = platform.release()
    info["load_average_start"] = round(os.getloadavg()[0], 2)
    return info


def run_script(argv: list[str], log: Path, timeout_seconds: float) -> str:
    """Run one script in its own session, its output to the terminal and `log`; its error."""
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)  # fmt: skip
        assert proc.stdout is not None
        stream = proc.stdout

        def copy() -> None:
            for line in stream:
                sys.stdout.write(line)
                sys.stdout.flush()
                out.write(line)

        copier = threading.Thread(target=copy, daemon=True)
        copier.start()
        error = ""
        try:
            proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            error = f"timed out after {timeout_seconds / 60:g} min"
        finally:  # also on Ctrl-C or SIGTERM: the script stops its servers, then the rest goes
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM if proc.poll() is None else signal.SIGKILL)
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything it left in its group
            copier.join(timeout=10)
    if not error and proc.returncode:
        error = f"exit status {proc.returncode}: {last_line(log.read_text(encoding='utf-8'))}"
    return error


FANOUT_FLOOR_FIELDS = ("p99_ms", "cpu_us_per_message", "client_cpu_us_per_message")


def fanout_figures(path: Path) -> list[Figure]:
    """bench/fanout_bench.py's rows as figures: the app against the bare relay, per count."""
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    relays = {row["subscribers"]: row for row in rows if row["server"] == "bare relay"}
    figures = []
    for row in rows:
        if row["server"] == "bare relay":
            continue
        n, relay = row["subscribers"], relays.get(row["subscribers"]) or {}
        floor = row["server"] == "ASGI floor"  # what any ASGI app on uvicorn pays at least
        tag = {"app": "", "ASGI floor": ".floor"}.get(row["server"])
        if tag is None:  # an --app-variant row, "app (name)"
            tag = "." + row["server"].split("(")[-1].rstrip(")")
        where = f"{row['server']}, {n:,} subscribers x {row['rate']:g} events/s"
        share = f"delivered {row['delivered']:,} of {row['expected']:,}" if row["expected"] else ""
        failed = row.get("failed") or relay.get("failed")
        note = f"failed: {failed}" if failed else share
        if relay.get("failed"):  # what a failed row measured before failing is no baseline
            relay = {}
        measured = [
            ("p99_ms", "delivery p99", "ms", "<", FANOUT_P99_TARGET_MS),
            ("messages_per_second", "messages/s delivered", "msg/s", "", None),
            ("kb_per_subscriber", "RSS per subscriber", "KB", "≤", FANOUT_KB_TARGET),
            ("cpu_us_per_message", "server CPU per message", "µs", "", None),
            ("client_cpu_us_per_message", "client processes' CPU per message", "µs", "", None),
        ]
        if floor:  # its delivery and CPU bound ours; its memory is not ours to meet
            measured = [m for m in measured if m[0] in FANOUT_FLOOR_FIELDS]
        keys = {"messages_per_second": "msg_per_s", "kb_per_subscriber": "kb_per_sub",
                "cpu_us_per_message": "cpu_us_per_msg", "p99_ms": "p99_ms",
                "client_cpu_us_per_message": "client_cpu_us_per_msg"}  # fmt: skip
        figures += [
            Figure(f"fanout.{n}{tag}.{keys[field]}", "4. fan-out", f"{label}, {where}",
                   None if row.get("failed") else row.get(field), unit,
                   f"bare relay, {n:,} subscribers", relay.get(field), op, target,
                   note=note if field == "p99_ms" else "")
            for field, label, unit, op, target in measured
        ]  # fmt: skip
    return figures


def run_job(job: Job, args: argparse.Namespace) -> tuple[Outcome, list[Figure]]:
    json_path, log = RESULTS / f"{job.name}.figures.json", RESULTS / f"{job.name}.log"
    argv = [sys.executable, str(BENCH / job.script), *job.arguments(args.quick)]
    own = job.name != "fanout"  # fanout_bench.py writes bench/results/fanout.json itself
    argv += ["--json", str(json_path)] if own else []
    written = json_path if own else FANOUT_JSON
    written.unlink(missing_ok=True)
    shown = [f"bench/{job.script}", *argv[2:]]
    outcome, started = Outcome(job.name, shown), time.monotonic()
    print(f"\n==== {job.name} ({job.scenarios}): {' '.join(shown)}", flush=True)
    outcome.error = run_script(argv, log, job.timeout_minutes * 60)
    outcome.seconds = round(time.monotonic() - started, 1)
    figures: list[Figure] = []
    if not outcome.error:
        try:
            figures = read_figures(written) if own else fanout_figures(written)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            outcome.error = f"no figures in {written.name}: {exc!r}"
    return outcome, figures


def order(figure: Figure) -> tuple[int, int]:
    """Numbered scenarios first, by number; extras after, in job order."""
    head = figure.scenario.split(".", 1)[0]
    if head.isdigit():
        return 0, int(head)
    extras = [job.scenarios for job in JOBS]
    return 1, extras.index(figure.scenario) if figure.scenario in extras else len(extras)


def table(figures: list[Figure], outcomes: list[Outcome]) -> list[str]:
    lines = ["| scenario | figure | value | baseline (same run) | baseline value | ratio "
             "| target | met? | note |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | --- | --- |"]  # fmt: skip
    for f in sorted(figures, key=order):
        unit = f" {f.unit}" if f.value is not None else ""
        base = f"{number(f.baseline_value)} {f.unit}" if f.baseline_value is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        ratio = f"{number(f.ratio)}x" if f.ratio is not None else ""
        cells = [f.scenario, f.figure, number(f.value) + unit, f.baseline, base, ratio,
                 f.target(), met, f.note]  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    jobs = {job.name: job for job in JOBS}
    for outcome in outcomes:
        if outcome.error:
            error = outcome.error.replace("|", "\\|")
            scenario = jobs[outcome.job].scenarios
            lines.append(f"| {scenario} | **FAILED** | | | | | | | {error} |")
    return lines


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def machine_sentence(info: dict[str, Any]) -> str:
    """Where and when the table was taken, in one sentence (README quotes it)."""
    return (
        f"taken on {info['date'][:10]} on {info['nproc']} vCPUs ({info['cpu_model']}), "
        f"{info['memory_gib']:g} GiB RAM, Linux {info['kernel']}, Python {info['python']}, "
        f"load average {info['load_average_start']:g} at the start and "
        f"{info['load_average_end']:g} at the end"
    )


def report(run: dict[str, Any], info: dict[str, Any], figures: list[Figure],
           outcomes: list[Outcome]) -> tuple[str, dict[str, Any]]:  # fmt: skip
    projection = project(figures)
    selected = [job for job in JOBS if job.name in run["jobs"]]
    lines = [
        f"# Benchmarks: {run['kind']}", "",
        f"`{run['command']}`, {machine_sentence(info)}; {duration(run['seconds'])} in all. "
        f"{info['platform']}; {info['wrk']}. Every baseline was measured in the same run of "
        "the same script as its figure; ratio = value / baseline value, except where the note "
        "says it is the median of per-round ratios. The machine may be shared: the load "
        "averages say how busy it was.", "",
        *table(figures, outcomes), "",
        "## Projection: 10,000 concurrent clients", "", *projection.lines, "",
        "## How each scenario was run", "",
        *[f"- **{job.scenarios}** (`{job.name}`): {job.about}. `bench/{job.script}"
          + "".join(f" {a}" for a in job.arguments(run["quick"])) + "`"
          + next((f", {duration(o.seconds)}" for o in outcomes if o.job == job.name), "")
          for job in selected],
    ]  # fmt: skip
    payload = {"run": run, "machine": info, "jobs": [asdict(o) for o in outcomes],
               "figures": [asdict(f) for f in sorted(figures, key=order)],
               "projection": {"inputs": projection.inputs, "outputs": projection.outputs,
                              "missing": projection.missing}}  # fmt: skip
    return "\n".join(lines) + "\n", payload


def names(text: str) -> list[str]:
    known = {job.name for job in JOBS}
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    if unknown := sorted(set(chosen) - known):
        raise argparse.ArgumentTypeError(f"unknown {unknown}; known: {sorted(known)}")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run of each")
    parser.add_argument("--only", type=names, default=[], help="run only these, e.g. engine,lag")
    parser.add_argument("--skip", type=names, default=[], help="run all but these")
    parser.add_argument(
        "--publish", action="store_true", help="copy to bench/LATEST.md even if not a full run"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the running script stops
    jobs = [j for j in JOBS if (not args.only or j.name in args.only) and j.name not in args.skip]
    full = not (args.quick or args.only or args.skip)
    kind = "full run" if full else "quick smoke run" if args.quick else "partial run"
    if args.only or args.skip:
        kind += f" of {', '.join(job.name for job in jobs)}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine(ensure_wrk())
    started = time.monotonic()
    outcomes, figures = [], []
    for job in jobs:
        outcome, found = run_job(job, args)
        outcomes.append(outcome)
        figures += found
        if outcome.error:
            print(f"==== {job.name} FAILED: {outcome.error}", flush=True)
    info["load_average_end"] = round(os.getloadavg()[0], 2)
    command = "make bench" if full else " ".join(["bench/suite.py", *sys.argv[1:]])
    run = {"kind": kind, "command": command, "quick": args.quick,
           "jobs": [job.name for job in jobs],
           "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    markdown, payload = report(run, info, figures, outcomes)
    (RESULTS / "latest.md").write_text(markdown, encoding="utf-8")
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print("\n" + markdown)
    written = [RESULTS / "latest.md", RESULTS / "latest.json"]
    if full or args.publish:
        shutil.copyfile(RESULTS / "latest.md", PUBLISHED_MD)
        shutil.copyfile(RESULTS / "latest.json", PUBLISHED_JSON)
        written += [PUBLISHED_MD, PUBLISHED_JSON]
    print("wrote " + ", ".join(str(path.relative_to(ROOT)) for path in written))
    print(f"README: The latest table, [bench/LATEST.md](bench/LATEST.md), was "
          f"{machine_sentence(info)}{'' if full else f' ({kind})'}.")  # fmt: skip
    failed = [outcome.job for outcome in outcomes if outcome.error]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the running script was stopped on the way out
        sys.exit("interrupted")
