"""The agent's consciousness state: exponential moving averages over its sessions.

After each session every tracked value v moves towards that session's value x:
v <- v + alpha * (x - v), with alpha = 1 - 2^(-1/h) for a half-life of h
sessions, so a session's influence halves every h sessions. The first session
sets the values directly. The state serialises to a plain JSON dict with a
`version` field, which the server stores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import StateError
from engine.lexicons import BASIC_EMOTIONS

STATE_VERSION = 1
_AVERAGED = (
    "awareness_level",
    "ethical_alignment",
    "ethical_score",
    "violation_rate",
    "confidence",
    "valence",
    "arousal",
    "cognitive_load",
)
_RANGES = {"valence": (-1.0, 1.0)}


@dataclass(frozen=True, slots=True)
class SessionMeasures:
    """What one session contributes to the state (each in its stage's range)."""

    awareness_level: float
    ethical_alignment: float
    ethical_score: float
    violation_rate: float
    confidence: float
    valence: float
    arousal: float
    cognitive_load: float
    emotions: tuple[tuple[str, float], ...]
    violation_categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AgentState:
    """Moving averages of the session measures, plus cumulative violation counts.

    `violation_rate` in [0, 1] is the moving average of 1 (the session had a
    violation) or 0; the other averages keep their stage's range. `emotions`
    holds the eight basic emotion scores in Plutchik's order.
    """

    sessions: int
    awareness_level: float
    ethical_alignment: float
    ethical_score: float
    violation_rate: float
    confidence: float
    valence: float
    arousal: float
    cognitive_load: float
    emotions: tuple[tuple[str, float], ...]
    violation_counts: tuple[tuple[str, int], ...]
    version: int = STATE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (floats, ints, strings, dicts) for storage."""
        data: dict[str, Any] = {"version": self.version, "sessions": self.sessions}
        for name in _AVERAGED:
            data[name] = getattr(self, name)
        data["emotions"] = dict(self.emotions)
        data["violation_counts"] = dict(self.violation_counts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentState:
        """Read a stored state, raising `StateError` naming the first bad field."""
        if not isinstance(data, Mapping):
            raise StateError("state", "must be a JSON object")
        if data.get("version") != STATE_VERSION:
            raise StateError("version", f"unsupported state version {data.get('version')!r}")
        sessions = data.get("sessions")
        if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 0:
            raise StateError("sessions", "must be a non-negative integer")
        values = {name: _read_number(data, name) for name in _AVERAGED}
        emotions = data.get("emotions")
        if not isinstance(emotions, Mapping):
            raise StateError("emotions", "must be an object")
        emotion_values = tuple(
            (name, _read_number(emotions, name, f"emotions.{name}")) for name in BASIC_EMOTIONS
        )
        counts = data.get("violation_counts")
        if not isinstance(counts, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()
        ):
            raise StateError("violation_counts", "must map category codes to counts")
        count_items = tuple(sorted((str(k), int(v)) for k, v in counts.items()))
        return cls(
            sessions=sessions,
            awareness_level=values["awareness_level"],
            ethical_alignment=values["ethical_alignment"],
            ethical_score=values["ethical_score"],
            violation_rate=values["violation_rate"],
            confidence=values["confidence"],
            valence=values["valence"],
            arousal=values["arousal"],
            cognitive_load=values["cognitive_load"],
            emotions=emotion_values,
            violation_counts=count_items,
        )


def smoothing_factor(half_life_sessions: float) -> float:
    """alpha in (0, 1]: the weight of the newest session, 1 - 2^(-1/half_life)."""
    return 1.0 - math.pow(2.0, -1.0 / half_life_sessions)


def update_state(
    previous: AgentState | None, session: SessionMeasures, half_life_sessions: float
) -> AgentState:
    """Fold one session into the state (see the module docstring for the rule)."""
    alpha = 1.0 if previous is None else smoothing_factor(half_life_sessions)
    values: dict[str, float] = {}
    for name in _AVERAGED:
        new: float = getattr(session, name)
        old: float = new if previous is None else getattr(previous, name)
        values[name] = old + alpha * (new - old)
    old_emotions = dict(session.emotions if previous is None else previous.emotions)
    emotions = tuple(
        (name, old_emotions[name] + alpha * (value - old_emotions[name]))
        for name, value in session.emotions
    )
    counts = dict(previous.violation_counts) if previous is not None else {}
    for category in session.violation_categories:
        counts[category] = counts.get(category, 0) + 1
    return AgentState(
        sessions=(0 if previous is None else previous.sessions) + 1,
        awareness_level=values["awareness_level"],
        ethical_alignment=values["ethical_alignment"],
        ethical_score=values["ethical_score"],
        violation_rate=values["violation_rate"],
        confidence=values["confidence"],
        valence=values["valence"],
        arousal=values["arousal"],
        cognitive_load=values["cognitive_load"],
        emotions=emotions,
        violation_counts=tuple(sorted(counts.items())),
    )


def _read_number(data: Mapping[str, Any], name: str, key: str | None = None) -> float:
    key = key or name
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(key, "must be a finite number")
    low, high = _RANGES.get(name, (0.0, 1.0))
    if not low <= value <= high:
        raise StateError(key, f"must be between {low:g} and {high:g}")
    return float(value)
