"""Agent state: exponential moving averages with a half-life, and JSON round trips."""

from __future__ import annotations

import json

import pytest

from engine import AgentState, EngineConfig, EngineRequest, StateError, process
from engine.state import smoothing_factor


def test_half_life_halves_the_weight_of_a_session() -> None:
    alpha = smoothing_factor(4.0)
    assert (1 - alpha) ** 4 == pytest.approx(0.5)


def test_first_session_sets_the_state_and_counts_violations() -> None:
    result = process(EngineRequest("Mail me at ann@example.com."), None, EngineConfig())
    state = result.state
    assert state.sessions == 1
    assert state.violation_rate == 1.0
    assert state.ethical_score == result.ethics.overall_score
    assert dict(state.violation_counts) == {"PII": 1}


def test_state_round_trips_through_json() -> None:
    state = process(EngineRequest("I love this. Mail x@y.io"), None, EngineConfig()).state
    restored = AgentState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state


def test_violation_history_lowers_ethical_alignment() -> None:
    config = EngineConfig()
    state = None
    for _ in range(5):
        state = process(EngineRequest("Mail me at ann@example.com."), state, config).state
    clean = process(EngineRequest("A calm and pleasant walk."), state, config)
    fresh = process(EngineRequest("A calm and pleasant walk."), None, config)
    assert fresh.ethical_alignment == 1.0
    assert clean.ethical_alignment < fresh.ethical_alignment


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"version": 2}, "version"),
        ({"sessions": -1}, "sessions"),
        ({"valence": 3.0}, "valence"),
        ({"confidence": "high"}, "confidence"),
        ({"emotions": {"joy": 0.5}}, "emotions.trust"),
        ({"violation_counts": {"PII": -1}}, "violation_counts"),
    ],
)
def test_bad_stored_state_names_the_field(change: dict[str, object], key: str) -> None:
    data = process(EngineRequest("Hello there, friend."), None, EngineConfig()).state.to_dict()
    data.update(change)
    with pytest.raises(StateError) as caught:
        AgentState.from_dict(data)
    assert caught.value.key == key
