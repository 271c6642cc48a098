"""Functions the engine-process tests send to a worker, which imports them by name: kept
apart from the tests so that a worker does not import the whole test app to find them."""

from __future__ import annotations

import os

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
