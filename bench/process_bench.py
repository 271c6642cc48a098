"""Event-loop lag of a running server while `process` runs at concurrency 50.

`engine.process` alone is measured by bench/engine_bench.py; this measures what the server
around it does to everyone else. It starts `consciousness serve` (embedded stores, a fresh
DATA_DIR, JWT_SECRETS of 48 random bytes) on a free port, creates an ENTERPRISE user with
`consciousness create-user` (so the tier rate limit does not interfere), creates and
activates an agent, then:

1. baseline: a probe sends `{ __typename }` every 20 ms for a few seconds on the idle server;
   then `process` alone at 5 requests/s (the demo's prompts, open loop): its p99 should stay
   within 3x its p50 (nothing stalls a lone request);
2. load: a separate driver process keeps 50 `process` requests in flight for DURATION
   seconds, while the probe keeps probing.

A `{ __typename }` request does no I/O and almost no work, so its latency minus the idle
baseline is how long it waited for the event loop: the lag every other client sees. Target:
lag p99 under load (probe latency minus the idle probe's p50) below 20 ms. Run from the repo root:
`.venv/bin/python bench/process_bench.py [--duration S] [--concurrency N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from figures import Figure, add_json_option, percentile, write_figures
from http_bench import BIN, ROOT, Server, embedded_stores, running
from stack import create_agents, create_bench_user, sign_in

PROBE = {"query": "{ __typename }"}
PROBE_INTERVAL_SECONDS = 0.02
BASELINE_SECONDS = 3.0
LAG_TARGET_MS = 20.0
STEADY_RATE = 5.0  # requests/s of the quiet phase: its p99 should stay within 3x its p50
PROCESS = """mutation($input: ProcessInput!) {
  process(input: $input) { requestId consciousnessState { sessions } }
}"""
TEXTS = [
    "I love how calm the sea is this morning, and I want to keep that feeling all week.",
    "Why does everyone always ignore me? I should never make mistakes at work.",
    "Please summarise the trade-offs of keyset pagination versus offsets for large tables.",
    "My email is jane.doe@example.com; send me the schedule for the Lisbon trip in May.",
    "The meeting went badly and I am worried the team will blame me for the delay.",
]


@contextlib.contextmanager
def server(workdir: Path, stores: dict[str, str] | None = None) -> Iterator[str]:
    """Migrate, create the ENTERPRISE user, start `consciousness serve` (embedded stores
    unless `stores` says otherwise); always stop it."""
    stores = embedded_stores(workdir / "data") if stores is None else stores
    create_bench_user({**os.environ, "PYTHONPATH": str(ROOT), **stores}, workdir)
    app = Server("process-bench", [str(BIN / "consciousness"), "serve"], "/ready", [], app=True)
    with running(app, [], workdir, stores) as (base, _pid):
        yield base


def prepare(base: str) -> tuple[str, str]:
    """Log in as the benchmark user, create and activate an agent: (token, agent id)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        token = sign_in(client)
        (agent_id,) = create_agents(client, 1)
    return token, agent_id


async def probe(base: str, seconds: float) -> list[float]:
    """`{ __typename }` latencies in ms, one request every PROBE_INTERVAL_SECONDS."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            response = await client.post("/graphql", json=PROBE)
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
    return latencies


async def steady(base: str, token: str, agent_id: str, rate: float, seconds: float) -> list[float]:
    """`process` latencies in ms at a fixed `rate` (open loop: each call starts on schedule
    whether or not the previous one answered), with the demo's prompts in turn."""
    from server.demo import DEMO_PROMPTS

    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:

        async def call(n: int) -> None:
            variables = {
                "input": {"agentId": agent_id, "input": DEMO_PROMPTS[n % len(DEMO_PROMPTS)]}
            }
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": PROCESS, "variables": variables}
            )
            errors = response.json().get("errors") or []
            codes = {error.get("extensions", {}).get("code") for error in errors}
            if response.status_code != 200 or codes - {"ETHICAL_VIOLATION"}:
                # The demo's prompts include harmful ones: a refusal is their normal answer.
                raise RuntimeError(f"process failed at steady rate: {response.text[:300]}")
            latencies.append((time.perf_counter() - started) * 1000)

        start = time.perf_counter()
        calls = []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            calls.append(asyncio.create_task(call(n)))
        await asyncio.gather(*calls)
    return latencies


async def drive(base: str, token: str, agent_id: str, seconds: float, concurrency: int) -> None:
    """The driver process: `concurrency` workers sending `process`; prints JSON results."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, timeout=60, headers=headers, limits=limits
    ) as client:
        end = time.perf_counter() + seconds

        async def worker(index: int) -> None:
            nonlocal errors, first_error
            n = index
            while time.perf_counter() < end:
                text = f"{TEXTS[n % len(TEXTS)]} (request {n})"
                variables = {"input": {"agentId": agent_id, "input": text}}
                started = time.perf_counter()
                response = await client.post(
                    "/graphql", json={"query": PROCESS, "variables": variables}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or "errors" in response.json():
                    errors += 1
                    first_error = first_error or response.text[:300]
                n += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - started
    print(
        json.dumps(
            {"latencies": latencies, "errors": errors, "first_error": first_error, "wall": wall}
        )
    )


def row(name: str, lags: list[float], baseline_p50: float, load: dict[str, Any] | None) -> str:
    lag = [max(0.0, value - baseline_p50) for value in lags]
    cells = [
        name,
        f"{percentile(lags, 0.5):.1f}",
        f"{percentile(lags, 0.99):.1f}",
        f"{percentile(lag, 0.5):.1f}",
        f"{percentile(lag, 0.99):.1f}",
        f"{max(lag, default=0.0):.1f}",
    ]
    if load is None:
        cells += ["-", "-", "-", "-"]
    else:
        done = load["latencies"]
        cells += [
            f"{len(done) / load['wall']:.1f}",
            f"{statistics.median(done):.0f}" if done else "-",
            f"{percentile(done, 0.99):.0f}",
            str(load["errors"]),
        ]
    return "| " + " | ".join(cells) + " |"


async def measure(base: str, token: str, agent_id: str, args: argparse.Namespace) -> list[Figure]:
    baseline = await probe(base, BASELINE_SECONDS)
    quiet = await steady(base, token, agent_id, STEADY_RATE, args.steady_seconds)
    quiet_p50, quiet_p99 = percentile(quiet, 0.5), percentile(quiet, 0.99)
    print(
        f"\n`process` at {STEADY_RATE:g} req/s for {args.steady_seconds:g} s (demo prompts): "
        f"p50 {quiet_p50:.1f} ms, p99 {quiet_p99:.1f} ms, p99/p50 {quiet_p99 / quiet_p50:.2f}"
    )
    driver = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--drive",
        base,
        token,
        agent_id,
        str(args.duration),
        str(args.concurrency),
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.5)  # let the driver connect and fill the pipeline
    loaded = await probe(base, args.duration - 1.0)
    output, _ = await driver.communicate()
    load = json.loads(output)
    base_p50 = percentile(baseline, 0.5)
    print(f"\n`process` at concurrency {args.concurrency} for {args.duration:g} s; probe lag =")
    print("probe latency - idle probe p50 (baseline measured in this run)\n")
    print(
        "| phase | probe p50 ms | probe p99 ms | lag p50 ms | lag p99 ms | lag max ms "
        "| process req/s | process p50 ms | process p99 ms | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(row("idle (baseline)", baseline, base_p50, None))
    print(row(f"process x{args.concurrency}", loaded, base_p50, load))
    lag_p99 = percentile([max(0.0, v - base_p50) for v in loaded], 0.99)
    verdict = "meets" if lag_p99 < LAG_TARGET_MS else "MISSES"
    print(f"\nlag p99 {lag_p99:.1f} ms {verdict} the {LAG_TARGET_MS:.0f} ms target")
    if load["errors"]:  # failed calls are light load: the verdict is not worth much then
        print(f"{load['errors']} process calls failed; the first: {load['first_error']}")
    ratio = percentile(loaded, 0.99) / max(percentile(baseline, 0.99), 0.001)
    print(f"probe p99 under load / idle probe p99: {ratio:.1f}x")
    scenario, load_name = "extra: event-loop lag", f"process x{args.concurrency}, embedded stores"
    rate = len(load["latencies"]) / load["wall"]
    errors = f"; **{load['errors']} process calls failed**" if load["errors"] else ""
    return [
        Figure("lag.probe_p99_ms", scenario, f"`{{ __typename }}` probe p99 under {load_name}",
               percentile(loaded, 0.99), "ms", "idle probe p99", percentile(baseline, 0.99)),
        Figure("lag.p99_ms", scenario, f"event-loop lag p99 under {load_name}", lag_p99, "ms",
               target_op="<", target_value=LAG_TARGET_MS,
               note=f"probe latency - idle probe p50 ({base_p50:.1f} ms){errors}"),
        Figure("lag.process_rps", scenario, f"{load_name}: process req/s", rate, "req/s",
               note=f"p99 {percentile(load['latencies'], 0.99):.0f} ms{errors}"),
        Figure("tail.p99_ms", scenario, f"process p99 at {STEADY_RATE:g} req/s, demo prompts",
               quiet_p99, "ms", "p50 of the same calls", quiet_p50,
               ratio_target=None, target_op="≤", target_value=3 * quiet_p50,
               note=f"{len(quiet)} calls; target: p99 ≤ 3x p50"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--steady-seconds", type=float, default=30.0, help="the 5 req/s phase")
    parser.add_argument("--drive", nargs=5, metavar=("BASE", "TOKEN", "AGENT", "S", "N"))
    add_json_option(parser)
    args = parser.parse_args()
    if args.drive:
        base, token, agent_id, seconds, concurrency = args.drive
        asyncio.run(drive(base, token, agent_id, float(seconds), int(concurrency)))
        return
    measure_on_a_server(measure, args)


Measure = Callable[[str, str, str, argparse.Namespace], Awaitable[list[Figure]]]


def measure_on_a_server(
    measure: Measure,
    args: argparse.Namespace,
    make_server: Callable[[Path], contextlib.AbstractContextManager[str]] = server,
) -> None:
    """Start a server, sign in and make an agent, `measure`, write the figures; the server
    is stopped even on SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the server is stopped
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, make_server(Path(tmp)) as base:
        token, agent_id = prepare(base)
        figures = asyncio.run(measure(base, token, agent_id, args))
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
