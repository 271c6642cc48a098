"""Long engine inputs run in a worker process, so their CPU never holds this process's GIL.

The engine runs off the event loop in a worker thread, which is enough for the inputs people
send (1 KB: about 2.5 ms). But a thread shares the GIL: a 20,000-emoji input costs about
0.9 s of CPU (VADER reads every emoji as its words, the embedding tokenizer as several
tokens) and parts of it are single C calls the interpreter cannot interrupt, so for as long
as it runs every other request on this process waited (`bench/abuse_bench.py`: a signed-in
`{ me { id } }` p99 went from 24 ms idle to 169 ms beside one such client). Inputs of at
least ENGINE_PROCESS_MIN_BYTES (UTF-8) therefore go to a small pool of ENGINE_PROCESSES
spawned processes, each of which loads its own semantic guard once; shorter ones stay in a
thread, where the round trip to another process would cost more than the work.

The pool starts on first use (tests start many apps that never send a long input), or at
start-up with `warm_up()`, which a serving process runs beside the rest of its start-up.
A worker that dies (the OOM killer) breaks the pool: the call that saw it runs again in a
thread and the next long input starts a new pool.

Where a core is left over beside each serving process, a worker costs nothing the request
could have used, and it takes every input, short ones too (`serving_min_bytes`): on 2 cores,
one serving process on PostgreSQL + Redis did 1.10x the `process` requests/s at c=50 and
1.23x at c=200, with p99 3.3-4.5 s -> 1.1 s (bench/process_load_bench.py, two alternating
runs each); its latency at 5 requests/s and its event-loop lag did not move beyond the
noise (bench/process_bench.py, three runs each). Without a spare core the niced worker gets
the CPU last and every call waits for it: two serving processes on 2 cores lost up to 21 %
at c=200, so there only long inputs go (LONG_INPUT_BYTES).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import engine
from server.engine_pickling import register_engine_records
from server.engine_workers import WorkerGone, WorkerPool

log = logging.getLogger(__name__)
R = TypeVar("R")


class Placeholder(enum.Enum):
    """Stands in for this process's guard in a call sent to a worker (pickled by name):
    the worker passes its own, loaded once, instead of receiving the model each time."""

    GUARD = "guard"


_worker_guard: engine.SemanticGuard | None = None


LONG_INPUT_BYTES = 4_000
"""Without a spare core, the UTF-8 size from which an input is worth another process."""


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on: its CPU affinity, bounded by a cgroup v2 CPU quota
    (a container's `--cpus`, a pod's limit), which the affinity does not show."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def serving_min_bytes(serving_processes: int, engine_processes: int, cores: int) -> int:
    """ENGINE_PROCESS_MIN_BYTES when it is not set (see the module docstring): every input
    (1) when each serving process and its engine workers have a core of their own,
    otherwise LONG_INPUT_BYTES."""
    if engine_processes and serving_processes * (1 + engine_processes) <= cores:
        return 1
    return LONG_INPUT_BYTES


WORKER_NICENESS = 10
"""Added to a worker's scheduling niceness: a long input may take a core for a second, and
the serving process's short requests should go first when the two compete for it."""


def _load_worker(with_guard: bool, contextual: bool) -> None:
    """The worker's initializer: yield the CPU to the server first, and load the semantic
    guard once, as the server did.

    A terminal's Ctrl-C reaches the whole process group at once; the worker leaves stopping
    to its server, which ends it after the call in flight (interrupted first, it printed a
    KeyboardInterrupt traceback and failed the calls under it). A server that dies without
    ending it is noticed on the worker's socket (server/engine_workers.py).
    """
    global _worker_guard
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(WORKER_NICENESS)
    register_engine_records()  # the results it sends back
    if with_guard:
        from db.guard_model import load_guard  # only the worker needs it imported here

        _worker_guard = load_guard(None, contextual)


def _placeholder(value: object) -> object:
    """The guard's placeholder in place of the guard: the model stays in this process."""
    return Placeholder.GUARD if isinstance(value, engine.SemanticGuard) else value


def _swap(value: object) -> object:
    return _worker_guard if value is Placeholder.GUARD else value


def _timed_in_worker(
    work: Callable[..., R], args: tuple[object, ...], kwargs: dict[str, object]
) -> tuple[int, R]:
    """Run `work` in the worker with its own guard in place of the placeholder."""
    swapped = tuple(_swap(arg) for arg in args)
    return timed(work, swapped, {name: _swap(value) for name, value in kwargs.items()})


def timed(
    work: Callable[..., R], args: tuple[object, ...], kwargs: dict[str, Any]
) -> tuple[int, R]:
    """`work(*args, **kwargs)` with when it started (ns since the epoch), for the trace."""
    return time.time_ns(), work(*args, **kwargs)


class EngineProcesses:
    """A lazily started pool of `processes` engine workers for inputs of `min_bytes` or more
    (UTF-8: what a character costs the engine grows with its encoded size; an emoji, 4
    bytes, is several words to VADER and several tokens to the embedder)."""

    def __init__(
        self, processes: int, min_bytes: int, with_guard: bool, contextual: bool = True
    ) -> None:
        self.processes = processes
        self.min_bytes = min_bytes
        self._guard_options = (with_guard, contextual)
        self._pool: WorkerPool | None = None

    def takes(self, args: tuple[object, ...]) -> bool:
        """Whether this call's input is long enough to be worth another process (a character
        is 1 to 4 bytes, so most inputs are decided without encoding them: every call asks)."""
        if self.processes == 0:
            return False
        first = args[0] if args else None
        text = first.text if isinstance(first, engine.EngineRequest) else first
        if not isinstance(text, str) or 4 * len(text) < self.min_bytes:
            return False
        return len(text) >= self.min_bytes or len(text.encode()) >= self.min_bytes

    def _workers(self) -> WorkerPool:
        """The pool, started on this loop if there is none (or the one there is belongs to a
        loop that has ended: a test's)."""
        loop = asyncio.get_running_loop()
        if self._pool is not None and (self._pool.broken or self._pool.loop is not loop):
            self._discard()
        if self._pool is None:
            register_engine_records()  # the calls sent (the results come back either way)
            self._pool = WorkerPool(self.processes, _load_worker, self._guard_options)
        return self._pool

    async def run(
        self, work: Callable[..., R], args: tuple[object, ...], kwargs: dict[str, object]
    ) -> tuple[int, R]:
        """`work(*args, **kwargs)` in a worker, with when it started (ns since the epoch)."""
        sent_args = tuple(_placeholder(arg) for arg in args)
        sent_kwargs = {name: _placeholder(value) for name, value in kwargs.items()}
        try:
            answer: tuple[int, R] = await self._workers().call(
                _timed_in_worker, work, sent_args, sent_kwargs
            )
        except WorkerGone:  # its pool is broken: the next call starts a new one
            log.warning("an engine worker process stopped; this input runs in a thread instead")
            return await asyncio.to_thread(timed, work, args, kwargs)
        return answer

    async def warm_up(self) -> None:
        """Start the workers now (each loads the guard: about a second) instead of on the
        first long input, which would otherwise wait for it."""
        if self.processes == 0:
            return
        started = time.perf_counter()
        try:
            await self._workers().ready()
        except WorkerGone:  # serve anyway: long inputs run in a thread until one works
            log.exception("the engine worker processes did not start")
            self._discard()
            return
        log.info(
            "%d engine worker process(es) ready in %.0f ms",
            self.processes,
            (time.perf_counter() - started) * 1000,
        )

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def close(self) -> None:
        """Stop the workers, each after the call it is running; a call still waiting runs in
        a thread instead."""
        self._discard()
