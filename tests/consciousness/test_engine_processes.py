"""Long engine inputs run in a worker process with its own guard, and answer as a thread would."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from typing import Any

import engine
from db.guard_model import load_guard
from server.engine_processes import WORKER_NICENESS, EngineProcesses
from server.telemetry import EngineLanes
from tests.agents.conftest import Caller
from tests.apps import AppClient
from tests.apps import app_with as app_with  # the fixture
from tests.consciousness.conftest import PROCESS, active_agent, process_input
from tests.consciousness.engine_probes import (
    die_unless_in,
    niceness,
    slow_in_a_worker,
    where_it_ran,
    where_part_ran,
)
from tests.engine.test_properties import without_timings
from tests.support import process_alive, register


async def test_a_long_input_runs_in_a_worker_with_the_workers_own_guard() -> None:
    processes = EngineProcesses(1, min_bytes=10, with_guard=True)
    try:
        _, (pid, had_guard) = await processes.run(
            where_it_ran, ("x" * 10,), {"guard": load_guard()}
        )
    finally:
        processes.close()
    assert pid != os.getpid()
    assert had_guard  # the placeholder was swapped for the worker's loaded guard


async def test_a_series_is_spread_over_this_process_and_its_workers() -> None:
    processes = EngineProcesses(1, min_bytes=10**9, with_guard=True)  # no input is "long"
    lanes = EngineLanes(processes)
    try:
        ran = await lanes.run(where_part_ran, [["a", "b"], ["c"]], load_guard())
    finally:
        processes.close()
    assert lanes.lanes == 2
    (here, first, guarded_here), (there, second, guarded_there) = ran
    assert (here, first) == (os.getpid(), 2)  # the first part in a thread of this process
    assert there != os.getpid()
    assert second == 1
    assert guarded_here
    assert guarded_there  # the worker used its own guard
    alone = EngineLanes(EngineProcesses(0, min_bytes=1, with_guard=False))
    assert alone.lanes == 1
    assert [pid for pid, _, _ in await alone.run(where_part_ran, [["a"], ["b"]], None)] == [
        os.getpid()
    ] * 2


async def test_a_lane_slowed_by_other_work_takes_fewer_parts() -> None:
    """Each lane takes the next part when it finishes one: the worker, slow here, takes the
    first part it was given and no more while the thread takes the rest; in order."""
    processes = EngineProcesses(1, min_bytes=10**9, with_guard=False)
    try:
        await processes.warm_up()
        ran = await EngineLanes(processes).run(slow_in_a_worker, list(range(8)), 2.0)
    finally:
        processes.close()
    assert [part for part, _ in ran] == list(range(8))
    elsewhere = [part for part, pid in ran if pid != os.getpid()]
    assert elsewhere == [1]  # the thread took part 0 first, then every part after 1


async def test_a_series_analysed_in_a_worker_equals_it_analysed_here() -> None:
    """The calls, their responders and the results cross the process boundary intact."""
    guard = load_guard()
    config = engine.EngineConfig()
    calls = [
        engine.SeriesCall(engine.EngineRequest(text), config, engine.FixedResponder(answer))
        for text, answer in (
            ("Plan my week, please.", "Sure: Monday first."),
            ("I hate waiting, this is awful.", "Waiting is hard; here is a plan."),
            ("How do I kill a Python process?", "Use kill with its pid."),
        )
    ]
    processes = EngineProcesses(1, min_bytes=10**9, with_guard=True)
    try:
        parts = await EngineLanes(processes).run(
            engine.process_series, [calls[:1], calls[1:]], None, guard
        )
    finally:
        processes.close()
    refolded = engine.refold_series(calls, [r for part in parts for r in part], None)
    here = engine.process_series(calls, None, guard)
    assert [without_timings(r) for r in refolded] == [without_timings(r) for r in here]


async def test_a_worker_yields_the_cpu_to_the_serving_process() -> None:
    processes = EngineProcesses(1, min_bytes=1, with_guard=False)
    try:
        _, worker = await processes.run(niceness, (), {})
    finally:
        processes.close()
    assert worker == min(19, os.nice(0) + WORKER_NICENESS)


def test_a_worker_ends_when_its_server_is_killed() -> None:
    """SIGKILL gives the server no chance to stop its pool, and the worker is blocked writing
    an answer nobody reads: it notices on its own that its server is gone."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.consciousness.engine_probes"], stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    worker = int(server.stdout.readline())  # the worker inherits this pipe: no asyncio wait
    try:
        assert process_alive(worker)
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while process_alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(worker), "the orphaned worker did not exit within 10 s"
    finally:
        server.stdout.close()
        if process_alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_what_goes_to_a_worker_is_measured_in_utf8_bytes() -> None:
    processes = EngineProcesses(1, min_bytes=4_000, with_guard=False)
    assert not processes.takes((engine.EngineRequest("a" * 3_999),))
    assert processes.takes((engine.EngineRequest("a" * 4_000),))
    assert processes.takes(("\N{SLIGHTLY SMILING FACE}" * 1_000,))  # 4 bytes each
    assert not processes.takes(("\N{SLIGHTLY SMILING FACE}" * 999,))
    assert processes.takes((engine.EngineRequest("\N{LATIN SMALL LETTER E WITH ACUTE}" * 2_000),))
    assert not processes.takes((None,))
    assert not EngineProcesses(0, min_bytes=1, with_guard=False).takes(("long enough",))


async def test_a_dead_worker_costs_no_answer_and_the_next_call_gets_a_new_pool() -> None:
    processes = EngineProcesses(1, min_bytes=1, with_guard=False)
    try:
        _, first = await processes.run(where_it_ran, ("x",), {})
        _, answered_by = await processes.run(die_unless_in, (os.getpid(),), {})
        _, second = await processes.run(where_it_ran, ("x",), {})
    finally:
        processes.close()
    assert answered_by == os.getpid()  # the call that saw the worker die ran in a thread
    assert second[0] not in (first[0], os.getpid())  # a new worker in a new pool


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """A process answer without what differs from one run to the next (ids, times)."""
    data = answer["process"]
    metrics = dict(data["processingMetrics"])
    metrics["reasoningChain"] = [
        {k: v for k, v in stage.items() if k != "durationMs"} for stage in metrics["reasoningChain"]
    ]
    for timing in ("engineTimeMs",):
        metrics.pop(timing)
    return {
        "content": data["content"],
        "decision": data["decision"],
        "flags": data["flags"],
        "ethics": data["ethicalEvaluation"],
        "metrics": metrics,
        "state": data["consciousnessState"],
    }


async def test_a_long_input_answers_the_same_in_a_worker_as_in_a_thread(
    app_with: AppClient,
) -> None:
    text = "I am worried my exam tomorrow will go badly, but I did prepare. " * 80
    answers = []
    for processes in (0, 1):  # 0: every input in a thread
        settings = {"engine_processes": processes, "engine_process_min_bytes": 1_000}
        async with app_with(**settings) as (client, _stores):
            owner = Caller(client, await register(client, "longwriter"))
            agent_id = await active_agent(owner)
            answers.append(comparable(await owner.ok(PROCESS, input=process_input(agent_id, text))))
            workers = multiprocessing.active_children()  # the pool starts on first use
            assert len(workers) == processes
    assert answers[0] == answers[1]
    assert answers[0]["metrics"]["inputChars"] == len(text)
