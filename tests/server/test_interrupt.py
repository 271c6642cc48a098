"""Ctrl-C in a terminal (or a service manager stopping a unit) signals the whole process
group: the server, its engine worker and multiprocessing's resource tracker at once. The server
must still stop as on a signal to it alone: its worker ended by the server, nothing of the pool
left behind, nothing to warn about."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.consciousness.test_engine_processes import process_alive
from tests.servers import STOP_SECONDS, embedded_env, start_server, stop_server

WORKER_SECONDS = 60  # the engine worker starts beside the rest of start-up and loads the guard


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def engine_worker(server: subprocess.Popen[bytes]) -> int:
    """The pid of the server's spawned engine worker, once it runs."""
    deadline = time.monotonic() + WORKER_SECONDS
    while time.monotonic() < deadline:
        for pid in children(server.pid):
            if "spawn_main" in command_line(pid):
                return pid
        time.sleep(0.2)
    raise AssertionError("the server started no engine worker process")


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
    while process_alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(worker), "the engine worker outlived its server"
