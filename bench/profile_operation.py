"""Where one GraphQL operation's server time goes: a cProfile of the app, grouped by package.

The app runs in this process with its real lifespan (embedded stores under a temporary
DATA_DIR, or PostgreSQL + Redis with `--servers`); requests are handed to it as ASGI calls,
so nothing of a client or of uvicorn's HTTP parsing is in the profile. The table says which
packages the event-loop thread spends its time in (self time, grouped by the file's
package), then the top functions. The engine runs in a worker thread and is not in it:
bench/engine_bench.py measures the engine. Run from the repo root, e.g.
`.venv/bin/python bench/profile_operation.py me --requests 2000 [--concurrency 20]`,
or `make profile OP=agents`.

`--pin` reads the app's own cost apart from the machine's: this process (the app's event
loop and its threads) on CPU 0, and its engine worker processes, which then take every
input, on the other cores. Unpinned, the engine runs in a thread of this process, and its
work is counted in the process's CPU. PostgreSQL and Redis can be moved off CPU 0 too
(`taskset -apc 1 PID`), as they were for the figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from processes import move_children
from stack import PASSWORD, ROOT, USERNAME, create_bench_user, fresh_database, redis_prefix

sys.path.insert(0, str(ROOT))

PROCESS_TEXT = "The meeting went badly and I am worried the team will blame me for the delay."
# Each operation's variable sets, sent in turn: `process` goes to each agent in turn, as the
# load benchmark's clients do, not all to one agent (whose state row would serialise them).
OPERATIONS: dict[str, tuple[str, Callable[[list[str]], list[dict[str, Any]]]]] = {
    "typename": ("{ __typename }", lambda _agents: [{}]),
    "me": ("{ me { id username } }", lambda _agents: [{}]),
    "agents": (
        "{ agents(first: 20) { edges { node { id name status owner { username } "
        "stats { requestCount } } } } }",
        lambda _agents: [{}],
    ),
    "process": (
        "mutation($input: ProcessInput!) { process(input: $input) { requestId "
        "consciousnessState { sessions } } }",
        lambda agents: [{"input": {"agentId": agent, "input": PROCESS_TEXT}} for agent in agents],
    ),
}
AGENT_COUNT = 50
Call = Callable[[str, dict[str, Any], str | None], Awaitable[dict[str, Any]]]


def package_of(filename: str) -> str:
    """The group a function's self time is counted under: a third-party package or ours."""
    if filename.startswith(("<", "~")):
        return "python"  # built-ins and frozen modules
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0].removesuffix(".py")
    try:
        relative = path.resolve().relative_to(ROOT)
    except (ValueError, OSError):
        return "python"
    return f"ours:{relative.parts[0]}" if len(relative.parts) > 1 else "ours"


def asgi_caller(app: Any) -> Call:
    """POST /graphql straight into the ASGI app; the decoded JSON answer."""

    async def call(query: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": variables})
        headers = [(b"content-type", b"application/json"), (b"host", b"bench")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the client never disconnects
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        answer: dict[str, Any] = orjson.loads(b"".join(chunks))
        return answer

    return call


@contextlib.asynccontextmanager
async def started_app() -> AsyncIterator[Call]:
    from core.settings import load_settings
    from server.app import create_app
    from server.heap import tune_collector
    from server.observability import configure_logging
    from tests.apps import running

    settings = load_settings()
    configure_logging(settings.log_level.value, settings.log_format.value)  # as `serve` does
    app = create_app(settings)
    tune_collector()  # as `serve` does: without it, collections were 9% of a listing at c=50
    async with running(app) as started:
        yield asgi_caller(started.asgi)


async def checked(call: Call, query: str, variables: dict[str, Any], token: str | None) -> Any:
    answer = await call(query, variables, token)
    if answer.get("errors"):
        raise SystemExit(f"setup failed: {answer['errors'][0]}")
    return answer["data"]


async def prepare(call: Call, operation: str) -> tuple[str, list[str]]:
    """The benchmark user's token and, for operations that need them, active agents."""
    login = (
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }"
    )
    token = (await checked(call, login, {"u": USERNAME, "p": PASSWORD}, None))["login"][
        "accessToken"
    ]
    agents: list[str] = []
    if operation in ("agents", "process"):
        create = (
            "mutation($n: String!) { createAgent(input: {name: $n, agentType: GENERAL}) { id } }"
        )
        activate = "mutation($id: UUID!) { activateAgent(id: $id) { id } }"
        for index in range(AGENT_COUNT):
            data = await checked(call, create, {"n": f"profile-{index:03d}"}, token)
            agents.append(data["createAgent"]["id"])
            await checked(call, activate, {"id": agents[-1]}, token)
    return token, agents


async def drive(
    call: Call, query: str, variables: list[dict[str, Any]], token: str, n: int, c: int
) -> None:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            answer = await call(query, variables[remaining % len(variables)], token)
            if answer.get("errors"):
                raise SystemExit(f"the operation failed: {answer['errors'][0]}")

    await asyncio.gather(*(worker() for _ in range(c)))


def report(profile: cProfile.Profile, seconds: float, requests: int, top: int, sort: str) -> None:
    stats = pstats.Stats(profile)
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_package[package_of(filename)] += tottime
        total += tottime
    print(
        f"\n{requests} requests in {seconds:.2f} s: {requests / seconds:,.0f} req/s in process, "
        f"{seconds / requests * 1e6:,.0f} µs per request (profiled, so slower than unprofiled)"
    )
    print(f"\nself time by package ({total:.2f} s profiled)")
    for package, spent in sorted(by_package.items(), key=lambda item: -item[1])[:20]:
        print(f"  {spent / total:6.1%}  {spent / requests * 1e6:8.1f} µs/req  {package}")
    print()
    stats.sort_stats(sort).print_stats(top)


async def baseline_rate(requests: int, concurrency: int) -> tuple[float, float]:
    """Unprofiled req/s of bare strawberry + caches answering `{ hello }`, driven the same way."""
    sys.path.insert(0, str(ROOT / "bench" / "servers"))
    from bare_strawberry import app_cached

    call = asgi_caller(app_cached)
    await drive(call, "{ hello }", [{}], "", requests // 10, concurrency)
    return await timed_rate(call, "{ hello }", [{}], "", requests, concurrency)


async def timed_rate(
    call: Call, query: str, variables: list[dict[str, Any]], token: str, n: int, c: int
) -> tuple[float, float]:
    """Requests per CPU-second of this process, and of its event-loop thread alone: steadier
    than per wall second when the machine is shared (the same work, whoever else runs).
    The thread's figure leaves out the stores' own threads (chDB merges, the analytics
    writer), whose work comes in bursts; the process's keeps work a request hands to a
    thread (the engine)."""
    process, thread = time.process_time(), time.thread_time()
    await drive(call, query, variables, token, n, c)
    return n / (time.process_time() - process), n / (time.thread_time() - thread)


async def main(args: argparse.Namespace) -> None:
    query, variables_for = OPERATIONS[args.operation]
    async with started_app() as call:
        token, agents = await prepare(call, args.operation)
        variables = variables_for(agents)
        await drive(call, query, variables, token, args.warmup, args.concurrency)
        if args.pin:  # the engine processes started with the warm-up's first input
            others = set(range(1, os.cpu_count() or 1))
            cpus = ", ".join(str(cpu) for cpu in sorted(others))
            moved = move_children(os.getpid(), others)
            print(f"pinned: this process on CPU 0, {moved} child processes on CPU {cpus}")
        baseline = await baseline_rate(args.requests, args.concurrency)
        rates = await timed_rate(call, query, variables, token, args.requests, args.concurrency)
        for cpu, rate, base in zip(("process", "thread"), rates, baseline, strict=True):
            print(
                f"unprofiled, same run, per {cpu} CPU-second: {args.operation} {rate:,.0f} "
                f"req/s; bare strawberry + caches {{ hello }} {base:,.0f} req/s; "
                f"ratio {rate / base:.3f}x"
            )
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        await drive(call, query, variables, token, args.requests, args.concurrency)
        profile.disable()
        report(profile, time.perf_counter() - started, args.requests, args.top, args.sort)
        if args.save:
            profile.dump_stats(args.save)
            print(f"\nprofile saved to {args.save} (read it with pstats: print_callers, ...)")


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="profile-") as workdir:
        env = {
            "DATA_DIR": str(Path(workdir) / "data"),
            "CLICKHOUSE_URL": "",
            "JWT_SECRETS": secrets.token_urlsafe(48),
            "LOG_LEVEL": args.log_level,
            "ACCESS_TOKEN_TTL_SECONDS": "3600",
            "QUERY_COST_BUDGET_ANONYMOUS": "0",
            "QUERY_COST_BUDGET_BASIC": "0",
        }
        if args.pin:
            if (os.cpu_count() or 1) < 2:
                raise SystemExit("--pin needs 2 or more cores")
            os.sched_setaffinity(0, {0})  # before any thread starts: they all inherit it
            env["ENGINE_PROCESS_MIN_BYTES"] = "1"
        with contextlib.ExitStack() as stack:
            if args.servers:
                env["DATABASE_URL"] = stack.enter_context(fresh_database("profile"))
                env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
                env["REDIS_KEY_PREFIX"] = stack.enter_context(redis_prefix("profile"))
            os.environ.update(env)
            create_bench_user({**os.environ, "PYTHONPATH": str(ROOT)}, Path(workdir))
            asyncio.run(main(args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operation", choices=sorted(OPERATIONS))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--servers", action="store_true", help="PostgreSQL + Redis stores")
    parser.add_argument("--top", type=int, default=25, help="functions listed by self time")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumulative")
    parser.add_argument("--log-level", default="INFO", help="the server's LOG_LEVEL")
    parser.add_argument("--save", help="also write the raw cProfile stats to this file")
    parser.add_argument(
        "--pin", action="store_true",
        help="this process on CPU 0, its engine worker processes on the others (docstring)",
    )  # fmt: skip
    run(parser.parse_args())
