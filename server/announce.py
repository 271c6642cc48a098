"""Waiting for a server to answer `/health` on an injectable clock, then printing its URLs."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from core.clock import SYSTEM_CLOCK, Clock

LISTEN_TIMEOUT_SECONDS = 120.0  # migrations and stores may take a while at first start
POLL_SECONDS = 0.25


def answers_health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for_health(
    url: str,
    timeout: float,
    clock: Clock | None = None,
    probe: Callable[[str], bool] = answers_health,
) -> bool:
    """Poll `url`/health until it answers 200 (True) or `timeout` seconds pass (False).

    Without `clock`, SYSTEM_CLOCK as it is at the call (tests replace it).
    """
    clock = clock or SYSTEM_CLOCK
    deadline = clock.monotonic() + timeout
    while not probe(url):
        if clock.monotonic() > deadline:
            return False
        clock.sleep(POLL_SECONDS)
    return True


def print_flushed(line: str) -> None:
    print(line, flush=True)  # stdout may be a pipe or a file: show the line now


def announce_when_listening(
    url: str, text: str, print_line: Callable[[str], None] = print_flushed
) -> threading.Thread:
    """Print `text` once `url` answers, from a daemon thread (uvicorn blocks the caller)."""

    def target() -> None:
        if wait_for_health(url, LISTEN_TIMEOUT_SECONDS):
            print_line(text)

    thread = threading.Thread(target=target, name="announce-urls", daemon=True)
    thread.start()
    return thread
