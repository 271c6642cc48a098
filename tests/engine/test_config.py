"""EngineConfig validation: clear errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from engine import ConfigError, EngineConfig, FrameworkWeights


def test_a_full_mapping_sets_every_key() -> None:
    data = {
        "framework_weights": {"utilitarian": 1, "deontological": 2, "virtue": 3},
        "blocking_threshold": 0.3,
        "block_on_critical": False,
        "profanity_threshold": 0.7,
        "metacognition_depth": 5,
        "max_input_chars": 100,
        "state_half_life_sessions": 2.5,
    }
    assert EngineConfig.from_mapping(data) == EngineConfig(
        framework_weights=FrameworkWeights(1.0, 2.0, 3.0),
        blocking_threshold=0.3,
        block_on_critical=False,
        profanity_threshold=0.7,
        metacognition_depth=5,
        max_input_chars=100,
        state_half_life_sessions=2.5,
    )


def test_partial_mapping_keeps_defaults_and_normalises_weights() -> None:
    config = EngineConfig.from_mapping({"framework_weights": {"virtue": 0.4}})
    assert config.framework_weights.normalised() == pytest.approx((0.4 / 1.2, 0.4 / 1.2, 0.4 / 1.2))
    assert config.metacognition_depth == 3


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"blocking_threshold": 1.5}, "blocking_threshold"),
        ({"blocking_threshold": "high"}, "blocking_threshold"),
        ({"metacognition_depth": 0}, "metacognition_depth"),
        ({"metacognition_depth": 6}, "metacognition_depth"),
        ({"metacognition_depth": 2.5}, "metacognition_depth"),
        ({"max_input_chars": 0}, "max_input_chars"),
        ({"state_half_life_sessions": 0}, "state_half_life_sessions"),
        ({"state_half_life_sessions": float("inf")}, "state_half_life_sessions"),
        ({"block_on_critical": 1}, "block_on_critical"),
        ({"framework_weights": {"virtue": -1}}, "framework_weights.virtue"),
        ({"framework_weights": {"karma": 1}}, "framework_weights.karma"),
        (
            {"framework_weights": {"utilitarian": 0, "deontological": 0, "virtue": 0}},
            "framework_weights",
        ),
        ({"framework_weights": [1, 2, 3]}, "framework_weights"),
        ({"temperature": 0.7}, "temperature"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EngineConfig.from_mapping(data)
    assert caught.value.key == key


def test_unknown_keys_can_be_allowed() -> None:
    config = EngineConfig.from_mapping({"temperature": 0.7}, allow_unknown=True)
    assert config == EngineConfig()


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(ConfigError):
        EngineConfig.from_mapping({"profanity_threshold": True})
