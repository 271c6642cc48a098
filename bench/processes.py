"""Starting, watching and stopping the benchmarks' server and load-generator processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_SECONDS = 90.0
STORE_PROCESSES = {"postgres": "PostgreSQL", "redis-server": "Redis"}  # comm -> name


class ServerDidNotStart(RuntimeError):
    """The server exited or never became ready; the message is its last log line."""


def ensure_wrk() -> str:
    """wrk's path, installing the Debian package when we are root."""
    if path := shutil.which("wrk"):
        return path
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: run `sudo apt-get install -y wrk`, then run this again")
    if subprocess.run(["apt-get", "install", "-y", "wrk"], check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("wrk is still missing after apt-get install")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ProcessStat:
    """One process as /proc/PID/stat tells it."""

    pid: int
    name: str  # the command, as `comm` (up to 15 characters)
    parent: int
    cpu_seconds: float  # user + system, all its threads included


def process_stat(pid: int) -> ProcessStat:
    """`pid`'s line of /proc/PID/stat (OSError once the process is gone)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    head, tail = text.rsplit(")", 1)
    fields = tail.split()
    ticks = int(fields[11]) + int(fields[12])
    return ProcessStat(pid, head.split("(", 1)[1], int(fields[1]), ticks / os.sysconf("SC_CLK_TCK"))


def process_stats() -> Iterator[ProcessStat]:
    """Every process on the machine now; one that ends while it is read is left out."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                yield process_stat(int(entry.name))


def move_process(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` onto `cpus` (sched_setaffinity is per thread: a process's
    threads started before the move keep their own). OSError if the process has ended."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended since
            os.sched_setaffinity(int(task.name), cpus)


def move_children(parent: int, cpus: set[int]) -> int:
    """`move_process` for every child of `parent` (a server's engine worker processes, which
    start with its affinity); how many were moved."""
    moved = 0
    for child in process_stats():
        if child.parent == parent:
            with contextlib.suppress(OSError):  # a child that ended since
                move_process(child.pid, cpus)
                moved += 1
    return moved


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included (/proc/PID/stat)."""
    return process_stat(pid).cpu_seconds


def children_cpu(parents: list[int]) -> dict[int, float]:
    """CPU seconds of every process whose parent is one of `parents`, by pid."""
    return {stat.pid: stat.cpu_seconds for stat in process_stats() if stat.parent in parents}


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU seconds of the machine since boot, every core (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )  # guest time is already in user; steal is time this machine did not get
    busy = user + nice + system + irq + softirq
    hertz = os.sysconf("SC_CLK_TCK")
    return busy / hertz, (busy + idle + iowait + steal) / hertz


def store_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every PostgreSQL and Redis server process on the machine, by pid."""
    return {
        stat.pid: (STORE_PROCESSES[stat.name], stat.cpu_seconds)
        for stat in process_stats()
        if stat.name in STORE_PROCESSES
    }


def store_cpu_used(before: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds each store used since `before` (processes started since count whole)."""
    used = dict.fromkeys(STORE_PROCESSES.values(), 0.0)
    for pid, (name, seconds) in store_cpu().items():
        used[name] += seconds - before.get(pid, (name, 0.0))[1]
    return used


def wait_until_idle(pid: int, timeout_seconds: float = 30.0) -> None:
    """Return once the process uses under 10% of a CPU over 0.25 s, or after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.25)
        if cpu_seconds(pid) - before < 0.025:
            return


def last_line(text: str) -> str:
    return (text.strip().splitlines() or ["(no output)"])[-1]


def wait_until_ready(
    procs: list[subprocess.Popen[bytes]], url: str, log: Path, *, any_answer: bool = False
) -> None:
    """Poll `url` until it answers 200 (with `any_answer`, any HTTP status: for a server with
    no route that answers 200); ServerDidNotStart if a process exits or time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if any(proc.poll() is not None for proc in procs) or time.monotonic() > deadline:
            raise ServerDidNotStart(last_line(log.read_text()))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)


def stop_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's session (it was started in its own), SIGKILL after 15 s or
    if the wait is interrupted (a second signal): nothing is left running either way."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def pinning() -> tuple[list[str], list[str], str]:
    """Prefixes that pin servers to CPU 0 and wrk to CPU 1 (with taskset and 2+ cores), and
    a description of that; no prefixes otherwise."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        taskset = ["taskset", "-c"]
        return [*taskset, "0"], [*taskset, "1"], "servers on CPU 0, wrk on CPU 1 (taskset)"
    return [], [], "not pinned"
