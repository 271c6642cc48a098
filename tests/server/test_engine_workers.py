"""The engine workers' calls and answers over their sockets: values, errors, big answers,
spreading, cancelled callers, and a pool closed or broken under calls in flight."""

from __future__ import annotations

import asyncio
import os

import pytest

from server.engine_workers import WorkerGone, WorkerPool
from tests.consciousness.engine_probes import (
    big_answer_later,
    die_unless_in,
    fail_unpicklably,
    fail_with,
    no_setup,
    pid_after,
    unpicklable_answer,
)
from tests.support import process_alive, wait_until


async def test_a_call_answers_its_value_and_a_worker_error_arrives_as_itself() -> None:
    pool = WorkerPool(1, no_setup, ())
    try:
        await pool.ready()
        assert await pool.call(divmod, 17, 5) == (3, 2)
        with pytest.raises(ValueError, match="no such agent") as raised:
            await pool.call(fail_with, "no such agent")
        assert any("in the engine worker" in note for note in raised.value.__notes__)
        with pytest.raises(TypeError, match="cannot pickle"):  # named, not a hang
            await pool.call(unpicklable_answer)
        with pytest.raises(RuntimeError, match=r"ValueError\(<unlocked _thread.lock"):
            await pool.call(fail_unpicklably)
        assert await pool.call(os.getpid) != os.getpid()  # the worker answers still
    finally:
        pool.close()


async def test_an_answer_larger_than_the_socket_buffer_arrives_whole() -> None:
    pool = WorkerPool(1, no_setup, ())
    try:
        answers = await asyncio.gather(*(pool.call(big_answer_later, 0.0) for _ in range(3)))
    finally:
        pool.close()
    assert [len(answer) for answer in answers] == [8_000_000] * 3
    assert all(answer == b"x" * 8_000_000 for answer in answers)


async def test_calls_go_to_the_least_busy_worker() -> None:
    pool = WorkerPool(2, no_setup, ())
    try:
        await pool.ready()
        pids = await asyncio.gather(pool.call(pid_after, 0.5), pool.call(pid_after, 0.5))
    finally:
        pool.close()
    assert len(set(pids)) == 2


async def test_a_cancelled_caller_leaves_the_next_answers_in_order() -> None:
    pool = WorkerPool(1, no_setup, ())
    try:
        await pool.ready()
        slow = asyncio.ensure_future(pool.call(pid_after, 0.3))
        await asyncio.sleep(0.05)
        slow.cancel()
        assert await pool.call(divmod, 9, 2) == (4, 1)  # the cancelled answer was skipped
    finally:
        pool.close()


async def test_a_worker_that_dies_fails_every_call_it_had_and_breaks_its_pool() -> None:
    pool = WorkerPool(1, no_setup, ())
    try:
        await pool.ready()
        dying = asyncio.ensure_future(pool.call(die_unless_in, os.getpid()))
        behind = asyncio.ensure_future(pool.call(divmod, 1, 1))
        for call in (dying, behind):
            with pytest.raises(WorkerGone):
                await call
        assert pool.broken
        with pytest.raises(WorkerGone):
            await pool.call(divmod, 1, 1)
    finally:
        pool.close()


async def test_closing_fails_the_calls_waiting_and_each_worker_exits() -> None:
    pool = WorkerPool(1, no_setup, ())
    await pool.ready()
    (pid,) = pool.pids()
    running = asyncio.ensure_future(pool.call(pid_after, 0.3))
    waiting = asyncio.ensure_future(pool.call(pid_after, 0.3))
    await asyncio.sleep(0.05)
    pool.close()
    for call in (running, waiting):
        with pytest.raises(WorkerGone):
            await call
    assert pool.broken
    with pytest.raises(WorkerGone):
        await pool.call(os.getpid)
    assert pid is not None
    await wait_until(lambda: not process_alive(pid), "the worker exits", within=10)
