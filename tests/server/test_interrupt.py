"""Ctrl-C in a terminal (or a service manager stopping a unit) signals the whole process
group: the server, its engine worker and multiprocessing's resource tracker at once. The server
must still stop as on a signal to it alone: its worker ended by the server, nothing of the pool
left behind, nothing to warn about."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.servers import STOP_SECONDS, embedded_env, engine_worker, start_server, stop_server
from tests.support import process_alive


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_to_the_process_group_stops_the_server_and_its_worker_cleanly(
    tmp_path: Path, signal_number: signal.Signals
) -> None:
    server, _ = start_server(tmp_path, embedded_env(tmp_path), own_process_group=True)
    try:
        worker = engine_worker(server)
        os.killpg(server.pid, signal_number)
        # uvicorn raises a SIGTERM again once it has shut down: the status a service expects
        assert server.wait(timeout=STOP_SECONDS) in (0, -signal_number)
    finally:
        stop_server(server)
    log = (tmp_path / "server.log").read_text()
    assert "Application shutdown complete" in log, log
    assert "leaked" not in log, log
    assert "Traceback" not in log, log
    deadline = time.monotonic() + 10
    while process_alive(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(worker.pid), "the engine worker outlived its server"
