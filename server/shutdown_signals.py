"""Websockets say goodbye (1001) when SIGTERM or SIGINT arrives, before uvicorn closes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def chain_shutdown_signals(go_away: Callable[[], Awaitable[object]]) -> Callable[[], None]:
    """Run `go_away` on SIGINT/SIGTERM before passing the signal to the server's handler.

    uvicorn closes open websockets with 1012 before the lifespan's shutdown runs, so the
    1001 goodbye has to happen when the signal arrives. The previous handler (uvicorn's)
    runs once `go_away` is done; a second signal passes at once. Returns a function that
    restores the previous handlers. Only on the main thread (signals live there).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}
    pending: set[asyncio.Task[None]] = set()

    def forward(number: int, frame: FrameType | None) -> None:
        handler = previous.get(number)
        if callable(handler):
            handler(number, frame)
        else:  # the default action (or ignoring it): let the signal happen again, unchained
            signal.signal(number, handler)
            signal.raise_signal(number)

    async def then_forward(number: int, frame: FrameType | None) -> None:
        try:
            await go_away()
        except Exception:
            log.exception("closing websockets on shutdown failed")
        forward(number, frame)

    def on_signal(number: int, frame: FrameType | None) -> None:
        if pending:
            forward(number, frame)
            return
        task = loop.create_task(then_forward(number, frame))
        pending.add(task)

    for number in SHUTDOWN_SIGNALS:
        previous[number] = signal.signal(
            number, lambda n, f: loop.call_soon_threadsafe(on_signal, n, f)
        )

    def restore() -> None:
        for number, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(number, handler)

    return restore
