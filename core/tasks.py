"""Stopping a background task: the one way the stores, the limiter and the server do it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` (None: nothing to stop) and wait until it has stopped, so nothing it
    holds is used after this returns; the CancelledError it ends with stays here."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
