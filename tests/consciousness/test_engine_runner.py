"""Where engine work runs: a short text on the event loop, a long one in a worker thread."""

from __future__ import annotations

import threading

from resolvers.context import ENGINE_INLINE_MAX_CHARS, run_engine_work


async def test_a_short_text_runs_on_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()
    assert await run_engine_work(ENGINE_INLINE_MAX_CHARS, threading.get_ident) == loop_thread


async def test_a_long_text_runs_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()
    ran_on = await run_engine_work(ENGINE_INLINE_MAX_CHARS + 1, threading.get_ident)
    assert ran_on != loop_thread
