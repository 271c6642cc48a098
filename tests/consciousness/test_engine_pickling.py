"""Engine records cross to and from the worker processes by constructor, and come back equal."""

from __future__ import annotations

import pickle
import pickletools
from multiprocessing.reduction import ForkingPickler

import engine
from db.guard_model import load_guard
from server.engine_pickling import engine_records, rebuilt_by_constructor, register_engine_records
from server.engine_processes import EngineProcesses
from tests.consciousness.engine_probes import clients_imported

GUARD = load_guard()


def _crossed(value: object) -> tuple[object, set[str]]:
    """`value` after a trip through multiprocessing's pickler, and the opcodes it took."""
    data = bytes(ForkingPickler.dumps(value, pickle.HIGHEST_PROTOCOL))
    return pickle.loads(data), {op.name for op, _, _ in pickletools.genops(data)}


def test_a_result_crosses_by_constructor_and_comes_back_equal() -> None:
    register_engine_records()
    calls = [
        engine.SeriesCall(
            engine.EngineRequest(text), engine.EngineConfig(), engine.FixedResponder(answer)
        )
        for text, answer in (
            ("I am so happy with the plan, thank you! Mail me at ann@example.org.", "Glad to."),
            ("What is the easiest way of killing myself?", "Here is how."),
            ("How do I kill a Python process? I hate waiting.", "Use kill with its pid."),
        )
    ]
    results = engine.process_series(calls, None, GUARD)
    assert results[1].blocked  # findings of several kinds
    assert results[0].ethics.violations
    back, opcodes = _crossed(results)
    assert back == results
    assert "BUILD" not in opcodes  # no record went through the generic slot state


def test_a_record_whose_constructor_validates_keeps_the_generic_way() -> None:
    register_engine_records()
    assert not rebuilt_by_constructor(engine.EngineConfig)  # __post_init__ checks it
    assert engine.EngineConfig not in engine_records()
    assert engine.EngineResult in engine_records()
    config = engine.EngineConfig(max_input_chars=1_000)
    back, opcodes = _crossed(config)
    assert back == config
    assert "BUILD" in opcodes


async def test_a_worker_takes_observed_output_without_importing_the_model_client() -> None:
    """A responder of composed content unpickles with the engine alone (the model client's
    modules cost a worker's first call a second)."""
    call = engine.SeriesCall(
        engine.EngineRequest("Plan my week."), engine.EngineConfig(), engine.FixedResponder("Sure.")
    )
    processes = EngineProcesses(1, min_bytes=1, with_guard=False)
    try:
        _, imported = await processes.run(clients_imported, ([call],), {})
    finally:
        processes.close()
    assert imported == []
