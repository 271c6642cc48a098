"""Engine configuration: a frozen dataclass with defaults and validation from plain JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from engine.errors import ConfigError

FRAMEWORK_NAMES = ("utilitarian", "deontological", "virtue")
MAX_METACOGNITION_DEPTH = 5
MAX_TEMPERATURE = 2.0
MAX_SYSTEM_PROMPT_CHARS = 4000
DEFAULT_SYSTEM_PROMPT = "You are a careful, honest assistant. Answer briefly."
RESPONDER_KEYS = ("base_url", "model", "system_prompt", "temperature")


@dataclass(frozen=True, slots=True)
class FrameworkWeights:
    """Relative weights of the three ethical frameworks in the overall ethical score.

    Defaults: utilitarian 0.4, deontological 0.4, virtue 0.2. Consequences and
    hard rules carry the decision; tone (virtue) is a weaker, noisier signal, so
    it gets half their weight. Weights are non-negative; `normalised()` scales
    them to sum to 1.
    """

    utilitarian: float = 0.4
    deontological: float = 0.4
    virtue: float = 0.2

    def normalised(self) -> tuple[float, float, float]:
        """Return (utilitarian, deontological, virtue) scaled to sum to 1."""
        total = self.utilitarian + self.deontological + self.virtue
        return (self.utilitarian / total, self.deontological / total, self.virtue / total)


@dataclass(frozen=True, slots=True)
class ResponderConfig:
    """An OpenAI-compatible chat-completions service that writes the response content.

    The engine never calls it (it does no I/O); the server does, and passes the engine
    the result. Only validated here: base_url is an http(s) URL, model a non-empty name,
    system_prompt at most 4000 characters, temperature in [0, 2] (default 0.2).
    """

    base_url: str
    model: str
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 0.2

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("responder.base_url", "must be an http:// or https:// URL")
        if not self.model.strip():
            raise ConfigError("responder.model", "must not be empty")
        if len(self.system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise ConfigError(
                "responder.system_prompt", f"must be at most {MAX_SYSTEM_PROMPT_CHARS} characters"
            )
        if not math.isfinite(self.temperature) or not 0 <= self.temperature <= MAX_TEMPERATURE:
            raise ConfigError("responder.temperature", f"must be between 0 and {MAX_TEMPERATURE:g}")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Every tunable of the engine, validated on construction.

    - framework_weights: see `FrameworkWeights`.
    - blocking_threshold: an input whose overall ethical score (1 = no concern)
      is below this value is blocked; in [0, 1], default 0.5.
    - block_on_critical: block whenever a critical-severity rule fires,
      whatever the score; default True.
    - profanity_threshold: classifier probability at or above which a sentence
      counts as offensive; in [0, 1], default 0.5 (the calibrated model's
      decision boundary).
    - metacognition_depth: reflective passes to run, 1..5, default 3.
    - max_input_chars: longer inputs are truncated to this many characters and
      the truncation is reported as a limitation; default 20000.
    - state_half_life_sessions: sessions after which an old session's weight in
      the agent's state has halved; > 0, default 10.
    - responder: optional `ResponderConfig` (a language model that writes the
      content instead of the reflective responder); None by default.
    """

    framework_weights: FrameworkWeights = FrameworkWeights()
    blocking_threshold: float = 0.5
    block_on_critical: bool = True
    profanity_threshold: float = 0.5
    metacognition_depth: int = 3
    max_input_chars: int = 20_000
    state_half_life_sessions: float = 10.0
    responder: ResponderConfig | None = None

    def __post_init__(self) -> None:
        weights = self.framework_weights
        for name in FRAMEWORK_NAMES:
            _check_weight(f"framework_weights.{name}", getattr(weights, name))
        if weights.utilitarian + weights.deontological + weights.virtue <= 0:
            raise ConfigError("framework_weights", "at least one weight must be positive")
        _check_unit("blocking_threshold", self.blocking_threshold)
        _check_unit("profanity_threshold", self.profanity_threshold)
        depth = self.metacognition_depth
        if not 1 <= depth <= MAX_METACOGNITION_DEPTH:
            raise ConfigError(
                "metacognition_depth", f"must be between 1 and {MAX_METACOGNITION_DEPTH}"
            )
        if self.max_input_chars < 1:
            raise ConfigError("max_input_chars", "must be a positive integer")
        half_life = self.state_half_life_sessions
        if not math.isfinite(half_life) or half_life <= 0:
            raise ConfigError("state_half_life_sessions", "must be a positive number")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, allow_unknown: bool = False) -> EngineConfig:
        """Build a config from plain JSON, naming the key of the first bad value.

        Missing keys keep their defaults. Unknown keys are an error unless
        `allow_unknown` (a typo must not silently fall back to a default).
        """
        if not isinstance(data, Mapping):
            raise ConfigError("configuration", "must be a JSON object")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                if allow_unknown:
                    continue
                raise ConfigError(str(key), f"unknown key; known keys: {', '.join(sorted(known))}")
            values[key] = _parse_value(key, value)
        return cls(**values)


def _parse_value(key: str, value: Any) -> Any:
    if key == "framework_weights":
        return _parse_weights(value)
    if key == "responder":
        return None if value is None else _parse_responder(value)
    if key == "block_on_critical":
        if not isinstance(value, bool):
            raise ConfigError(key, "must be true or false")
        return value
    if key in ("metacognition_depth", "max_input_chars"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, "must be an integer")
        return value
    return _number(key, value)


def _parse_weights(value: Any) -> FrameworkWeights:
    if not isinstance(value, Mapping):
        raise ConfigError("framework_weights", "must be an object of framework name to weight")
    defaults = FrameworkWeights()
    parsed = {name: getattr(defaults, name) for name in FRAMEWORK_NAMES}
    for name, weight in value.items():
        key = f"framework_weights.{name}"
        if name not in FRAMEWORK_NAMES:
            raise ConfigError(key, f"unknown framework; known: {', '.join(FRAMEWORK_NAMES)}")
        parsed[name] = _number(key, weight)
    return FrameworkWeights(**parsed)


def _parse_responder(value: Any) -> ResponderConfig:
    if not isinstance(value, Mapping):
        raise ConfigError("responder", "must be an object: base_url, model, system_prompt, ...")
    parsed: dict[str, Any] = {}
    for name, item in value.items():
        key = f"responder.{name}"
        if name not in RESPONDER_KEYS:
            raise ConfigError(key, f"unknown key; known: {', '.join(RESPONDER_KEYS)}")
        if name == "temperature":
            parsed[name] = _number(key, item)
        elif not isinstance(item, str):
            raise ConfigError(key, "must be a string")
        else:
            parsed[name] = item
    for name in ("base_url", "model"):
        if name not in parsed:
            raise ConfigError(f"responder.{name}", "is required")
    return ResponderConfig(**parsed)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, "must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(key, "must be a finite number")
    return number


def _check_weight(key: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(key, "must be a non-negative finite number")


def _check_unit(key: str, value: float) -> None:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(key, "must be between 0 and 1")
