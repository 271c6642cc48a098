"""Which engine inputs a serving process sends to its worker process: every input where each
serving process and its workers have a core of their own, only long ones otherwise, and
whatever ENGINE_PROCESS_MIN_BYTES says when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.engine_processes import (
    LONG_INPUT_BYTES,
    available_cores,
    serving_min_bytes,
)
from tests.live.client import register
from tests.servers import embedded_env, engine_worker, start_server, stop_server

# About 700 UTF-8 bytes: under LONG_INPUT_BYTES, several milliseconds of engine work.
SHORT_INPUT = (
    "I have been thinking about the migration plan for most of the week, and I am worried that "
    "we will miss the deadline again because testing always gets squeezed at the end. "
) * 4
CALLS = 20


@pytest.mark.parametrize(
    ("serving", "engine", "cores", "expected"),
    [
        (1, 1, 2, 1),  # one serving process and its worker on 2 cores: a core each
        (2, 1, 2, LONG_INPUT_BYTES),  # two on 2 cores: the worker would wait for the CPU
        (1, 1, 1, LONG_INPUT_BYTES),
        (1, 0, 8, LONG_INPUT_BYTES),  # no worker to send to
        (2, 1, 4, 1),
        (3, 1, 4, LONG_INPUT_BYTES),
        (1, 2, 3, 1),
    ],
)
def test_every_input_goes_to_a_worker_only_where_each_process_has_a_core(
    serving: int, engine: int, cores: int, expected: int
) -> None:
    assert serving_min_bytes(serving, engine, cores) == expected


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1), ("garbled", None)],
)
def test_a_cgroup_cpu_quota_bounds_the_cores(tmp_path: Path, cpu_max: str, cap: int | None) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))
    assert available_cores(quota) == (affinity if cap is None else min(affinity, cap))
    assert available_cores(tmp_path / "missing") == affinity


@pytest.mark.parametrize("configured", [None, "100000"], ids=["decided", "set"])
async def test_serve_sends_short_inputs_to_its_worker_as_decided(
    tmp_path: Path, configured: str | None
) -> None:
    overrides = {} if configured is None else {"ENGINE_PROCESS_MIN_BYTES": configured}
    env = embedded_env(tmp_path, **overrides)
    for name in ("SERVING_PROCESSES", "ENGINE_PROCESSES", "ENGINE_PROCESS_MIN_BYTES"):
        if name not in overrides:
            env.pop(name, None)
    server, url = start_server(tmp_path, env)
    try:
        worker = engine_worker(server)
        user = await register(url)
        agent = await user.create_agent()
        await user.activate(agent)
        await user.process(agent, SHORT_INPUT)  # the worker has loaded its guard by then
        before = sum(worker.cpu_times()[:2])
        for _ in range(CALLS):
            await user.process(agent, SHORT_INPUT)
        worker_seconds = sum(worker.cpu_times()[:2]) - before
    finally:
        stop_server(server)
    log = (tmp_path / "server.log").read_text()
    if configured is not None:
        assert "engine inputs of" not in log  # nothing decided: the setting stands
        expected = int(configured)
    else:
        expected = serving_min_bytes(1, 1, available_cores())
        assert f"engine inputs of {expected} UTF-8 bytes or more go to" in log, log
    if expected <= len(SHORT_INPUT.encode()):
        assert worker_seconds >= 0.03, f"the worker did {worker_seconds:.3f} s of {CALLS} calls"
    else:
        assert worker_seconds < 0.03, f"the worker did {worker_seconds:.3f} s: it was sent calls"
