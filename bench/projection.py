"""What a cluster needs for 10,000 concurrent clients, computed from one `make bench` run.

Every number comes from the run's figures (by key) and the assumptions below, which are
stated in the output: a client is a live dashboard holding one subscription and sending
`process` calls. Nothing measured is written here; a missing figure is named instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from figures import Figure, number

from core.settings import Settings

CLIENTS = 10_000
EVENTS_PER_SUBSCRIBER_PER_SECOND = 1.0  # as in the 10,000-subscriber fan-out scenario
REQUEST_INTERVALS_SECONDS = (100, 10, 1)  # each client sends one `process` every this often
BUSY = 0.7  # plan every process and server for 70% CPU: headroom for bursts and GC
FANOUT_P99_TARGET_MS = 250.0
CONNECTIONS_PER_POOL = 1  # a fixed pool: DB_POOL_SIZE connections, no overflow
HOST_CORES = 8  # an assumed host size for the reading
POSTGRES_MAX_CONNECTIONS = 100  # PostgreSQL's default


@dataclass
class Projection:
    lines: list[str] = field(default_factory=list)  # markdown
    inputs: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _first(by_key: dict[str, Figure], *keys: str) -> tuple[str, float] | None:
    for key in keys:
        figure = by_key.get(key)
        if figure is not None and figure.value is not None:
            return key, figure.value
    return None


def _fanout_capacity(by_key: dict[str, Figure]) -> tuple[int, float, float, float] | None:
    """(subscribers per process, its p99, KB per subscriber, CPU µs per message): the largest
    measured subscriber count whose app p99 met the target, else the smallest measured."""
    measured = sorted(  # the app's rows, "fanout.<n>.p99_ms" (not the floor's or a variant's)
        int(key.split(".")[1])
        for key, figure in by_key.items()
        if key.startswith("fanout.")
        and key.endswith(".p99_ms")
        and key.count(".") == 2
        and figure.value is not None
    )
    if not measured:
        return None
    met = [n for n in measured if (by_key[f"fanout.{n}.p99_ms"].value or 0) < FANOUT_P99_TARGET_MS]
    n = max(met) if met else measured[0]
    kb = by_key.get(f"fanout.{n}.kb_per_sub")
    cpu = by_key.get(f"fanout.{n}.cpu_us_per_msg")
    if kb is None or kb.value is None or cpu is None or cpu.value is None:
        return None
    return n, by_key[f"fanout.{n}.p99_ms"].value or 0.0, kb.value, cpu.value


def project(figures: list[Figure]) -> Projection:
    """The projection's markdown lines, its inputs and outputs, or what it is missing."""
    by_key = {figure.key: figure for figure in figures}
    result = Projection()
    # One concurrency for every `process` input: c=200 when it was measured, else c=50.
    c = "c200" if _first(by_key, "process.w1.c200.rps") else "c50"
    app = _first(by_key, f"process.w1.{c}.app_cpu_ms")
    engine = _first(by_key, f"process.w1.{c}.engine_cpu_ms")
    rps = _first(by_key, f"process.w1.{c}.rps")
    pg = _first(by_key, f"process.w1.{c}.postgresql_cpu_ms")
    redis = _first(by_key, f"process.w1.{c}.redis_cpu_ms")
    scale = _first(by_key, f"process.w2.{c}.rps")
    ingest = _first(by_key, "analytics.ingest_rows_per_s")
    fanout = _fanout_capacity(by_key)
    needed = {"`process` CPU per request (scenario 3)": app and engine and pg and redis and rps,
              "fan-out p99, memory and CPU per message (scenario 4)": fanout,
              "analytics ingestion (scenario 5)": ingest}  # fmt: skip
    result.missing = [name for name, found in needed.items() if not found]
    if not (app and engine and pg and redis and rps and fanout and ingest):
        result.lines = [f"Not computed: this run lacks {', '.join(result.missing)}."]
        return result
    per_subscriber_n, fanout_p99, kb, us_per_message = fanout
    result.inputs = {app[0]: app[1], engine[0]: engine[1], pg[0]: pg[1], redis[0]: redis[1],
                     rps[0]: rps[1],
                     "fanout.subscribers_per_process": per_subscriber_n,
                     "fanout.p99_ms": fanout_p99, "fanout.kb_per_sub": kb,
                     "fanout.cpu_us_per_msg": us_per_message, ingest[0]: ingest[1]}  # fmt: skip
    deliveries = CLIENTS * EVENTS_PER_SUBSCRIBER_PER_SECOND
    fanout_cores = deliveries * us_per_message / 1e6 / BUSY
    fanout_processes = max(math.ceil(fanout_cores), math.ceil(CLIENTS / per_subscriber_n))
    memory_gib = CLIENTS * kb / 1024 / 1024
    pool = Settings.model_fields["db_pool_size"].default
    lines = [
        f"Assumptions: {CLIENTS:,} clients, each a live dashboard with one subscription "
        f"receiving {EVENTS_PER_SUBSCRIBER_PER_SECOND:g} event/s and sending one `process` "
        f"every {', '.join(f'{s} s' for s in REQUEST_INTERVALS_SECONDS)} (one column each); "
        f"every process and server planned at {BUSY:.0%} CPU. Measured inputs (this run): "
        f"`process` costs {app[1]:.2f} CPU ms in the worker, {engine[1]:.2f} in its engine "
        f"processes, {pg[1]:.2f} in PostgreSQL and "
        f"{redis[1]:.2f} in Redis per request ({number(rps[1])} req/s from one worker); "
        f"fan-out costs {us_per_message:.0f} CPU µs per delivered message and {kb:.0f} KB "
        f"per subscriber, and the largest measured count of subscribers on one process with "
        f"p99 under {FANOUT_P99_TARGET_MS:.0f} ms is {per_subscriber_n:,} "
        f"(p99 {fanout_p99:,.0f} ms){'' if fanout_p99 < FANOUT_P99_TARGET_MS else ' (NOT met)'}."
        f" Ingestion into embedded chDB ran at {number(ingest[1])} rows/s.",
        "",
        "| need | formula | " + " | ".join(
            f"1 call / {s} s per client" for s in REQUEST_INTERVALS_SECONDS) + " |",
        "| --- | --- |" + " ---: |" * len(REQUEST_INTERVALS_SECONDS),
    ]  # fmt: skip
    rows: dict[str, tuple[str, list[str]]] = {}
    for interval in REQUEST_INTERVALS_SECONDS:
        calls = CLIENTS / interval
        app_cores = math.ceil(calls * app[1] / 1000 / BUSY)
        engine_cores = calls * engine[1] / 1000 / BUSY
        total = (
            app_cores + engine_cores + fanout_processes + calls * (pg[1] + redis[1]) / 1000 / BUSY
        )
        cells = {
            "`process` calls/s": ("clients / interval", f"{calls:,.0f}"),
            "API worker processes (1 core each)": (
                "calls/s * worker CPU ms / 1000 / busy", f"{app_cores:,}"),
            "engine processes' cores (beside the workers)": (
                "calls/s * engine CPU ms / 1000 / busy", f"{engine_cores:,.1f}"),
            "fan-out worker processes (1 core each)": (
                f"max(deliveries * µs/msg / busy, clients / {per_subscriber_n:,})",
                f"{fanout_processes:,}"),
            "fan-out memory (GiB, all processes)": (
                "clients * KB per subscriber", f"{memory_gib:.2f}"),
            "PostgreSQL cores": ("calls/s * PostgreSQL CPU ms / 1000 / busy",
                                 f"{calls * pg[1] / 1000 / BUSY:.2f}"),
            "PostgreSQL connections (max)": (
                f"API processes * {CONNECTIONS_PER_POOL} * DB_POOL_SIZE ({pool})",
                f"{app_cores * CONNECTIONS_PER_POOL * pool:,}"),
            "Redis (share of its one thread)": ("calls/s * Redis CPU ms / 1000",
                                                f"{calls * redis[1] / 1000:.0%}"),
            "ClickHouse inserts (rows/s)": ("one metrics row per call", f"{calls:,.0f}"),
            "… as a share of one chDB writer": ("rows/s / measured ingestion",
                                                f"{calls / ingest[1]:.1%}"),
            "cores in all (API + engine + fan-out + PostgreSQL + Redis)": ("sum", f"{total:.1f}"),
        }  # fmt: skip
        for name, (formula, value) in cells.items():
            rows.setdefault(name, (formula, []))[1].append(value)
        result.outputs |= {f"api_processes@{interval}s": app_cores,
                           f"engine_cores@{interval}s": engine_cores,
                           f"postgresql_cores@{interval}s": calls * pg[1] / 1000 / BUSY,
                           f"redis_thread_share@{interval}s": calls * redis[1] / 1000,
                           f"clickhouse_writer_share@{interval}s": calls / ingest[1],
                           f"cores@{interval}s": total}  # fmt: skip
    result.outputs |= {"fanout_processes": fanout_processes, "fanout_memory_gib": memory_gib}
    lines += [f"| {name} | `{formula}` | {' | '.join(values)} |"
              for name, (formula, values) in rows.items()]  # fmt: skip
    if scale:
        factor = scale[1] / rps[1]
        result.inputs[scale[0]] = scale[1]
        lines += [
            "",
            f"Scale-out check: two workers on this machine served {factor:.2f}x one worker "
            f"({number(scale[1])} against {number(rps[1])} req/s), with PostgreSQL, Redis and "
            "wrk on the same two cores; the rows above assume each worker gets its own core "
            "and the stores their own hosts, as in a cluster.",
        ]
    result.lines = [*lines, "", reading(result.outputs, pool)]
    return result


def reading(outputs: dict[str, float], pool: int) -> str:
    """The middle column in words: hosts, and where a store outgrows one instance."""
    interval = REQUEST_INTERVALS_SECONDS[len(REQUEST_INTERVALS_SECONDS) // 2]
    api, cores = outputs[f"api_processes@{interval}s"], outputs[f"cores@{interval}s"]
    engine = outputs[f"engine_cores@{interval}s"]
    connections = api * CONNECTIONS_PER_POOL * pool
    redis_share = outputs[f"redis_thread_share@{interval}s"]
    return (
        f"Reading the middle column ({CLIENTS:,} dashboards, a call every {interval} s each): "
        f"{api:.0f} API and {outputs['fanout_processes']:.0f} fan-out processes and "
        f"{engine:.1f} cores of engine processes, "
        f"{math.ceil((api + engine + outputs['fanout_processes']) / HOST_CORES)} hosts of "
        f"{HOST_CORES} cores behind a load balancer; PostgreSQL on "
        f"{math.ceil(outputs[f'postgresql_cores@{interval}s'])} core(s) with up to "
        f"{connections:.0f} connections"
        + (f" (over its default max_connections of {POSTGRES_MAX_CONNECTIONS}: raise it or "
           "pool with PgBouncer)" if connections > POSTGRES_MAX_CONNECTIONS else "")
        + f"; one Redis at {redis_share:.0%} of its thread"
        + (f" (over {BUSY:.0%}: shard it in {math.ceil(redis_share / BUSY)})"
           if redis_share > BUSY else "")
        + f"; {cores:.0f} cores in all. ClickHouse takes {CLIENTS / interval:,.0f} rows/s in "
        f"batches, {outputs[f'clickhouse_writer_share@{interval}s']:.1%} of what one writer "
        "ingested into embedded chDB here."
    )  # fmt: skip
