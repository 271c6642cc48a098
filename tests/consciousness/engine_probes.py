"""Functions the engine-process tests send to a worker, which imports them by name: kept
apart from the tests so that a worker does not import the whole test app to find them."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time

import engine


def where_it_ran(_text: str, guard: engine.SemanticGuard | None = None) -> tuple[int, bool]:
    return os.getpid(), isinstance(guard, engine.SemanticGuard)


def die_unless_in(parent: int) -> int:
    """Kill the worker it runs in (as the OOM killer would); in `parent`, answer its pid."""
    if os.getpid() != parent:
        os._exit(3)
    return os.getpid()


def niceness() -> int:
    """The scheduling niceness of the process it runs in."""
    return os.nice(0)


def big_answer_later(seconds: float) -> bytes:
    """An answer larger than a pipe holds, after a while: written to a server that is gone,
    it blocks its worker for good (nothing reads it, and the worker holds the other end)."""
    time.sleep(seconds)
    return b"x" * 8_000_000


def serve_until_killed() -> None:
    """A parent for the orphan test: start one worker, print its pid, give it a call whose
    big answer comes after the test has killed this process, then wait to be killed."""
    from server.engine_processes import EngineProcesses

    kept: list[object] = []  # the pool's socket stays open, unread, until this is killed

    async def start() -> None:
        processes = EngineProcesses(1, min_bytes=1, with_guard=False)
        _, pid = await processes.run(os.getpid, (), {})
        print(pid, flush=True)
        kept.extend([processes, asyncio.ensure_future(processes.run(big_answer_later, (1.0,), {}))])
        await asyncio.sleep(0.2)  # the call is on its way; the loop then ends

    asyncio.run(start())
    time.sleep(600)


if __name__ == "__main__":
    serve_until_killed()


def where_part_ran(part: list[str], guard: engine.SemanticGuard | None) -> tuple[int, int, bool]:
    """(pid, the part's length, whether a guard came): what a fanned-out part saw."""
    return os.getpid(), len(part), isinstance(guard, engine.SemanticGuard)


def clients_imported(_calls: list[engine.SeriesCall]) -> list[str]:
    """Which of the model client's modules the worker has imported, once it has `_calls`."""
    return sorted(name for name in ("httpx", "outbound.language_model") if name in sys.modules)


def slow_in_a_worker(part: int, seconds: float) -> tuple[int, int]:
    """(the part, the pid that ran it), after `seconds` in a worker process (none here): a
    lane slowed by other work."""
    if multiprocessing.parent_process() is not None:
        time.sleep(seconds)
    return part, os.getpid()


def fail_with(message: str) -> None:
    raise ValueError(message)


def unpicklable_answer() -> object:
    """An answer no pickler can send (a lock)."""
    import threading

    return threading.Lock()


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def fail_unpicklably() -> None:
    """An error no pickler can send back (it holds a lock)."""
    import threading

    raise ValueError(threading.Lock())


def no_setup() -> None:
    """A worker initializer with nothing to load."""
