"""What `process` and the evaluation queries hand the engine: the checked input and context,
the agent's configuration capped by the server's, its stored state, the context redacted."""

from __future__ import annotations

from typing import Any

import orjson

import engine
from core.errors import BadUserInput
from core.settings import Settings

MAX_CONTEXT_BYTES = 4 * 1024


def checked_text(settings: Settings, text: str, field: str) -> str:
    """`text`, refused when empty or longer than MAX_INPUT_CHARS."""
    limit = settings.max_input_chars
    if not text.strip():
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise BadUserInput(f"{field} is longer than {limit} characters", field=field)
    return text


def checked_context(value: object) -> dict[str, Any]:
    """The request context: a JSON object of at most MAX_CONTEXT_BYTES, or {} when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput("context must be a JSON object", field="context")
    if len(orjson.dumps(value)) > MAX_CONTEXT_BYTES:
        raise BadUserInput(f"context is larger than {MAX_CONTEXT_BYTES} bytes", field="context")
    return value


def config_for(settings: Settings, configuration: dict[str, Any]) -> engine.EngineConfig:
    """The engine configuration of `configuration`, never above the server's input cap."""
    values = dict(configuration)
    server_cap = settings.max_input_chars
    wanted = values.get("max_input_chars", server_cap)
    values["max_input_chars"] = min(server_cap, wanted if isinstance(wanted, int) else server_cap)
    return engine.EngineConfig.from_mapping(values)


def stored_state(data: dict[str, Any]) -> engine.AgentState | None:
    """An agent's stored state, None before its first session; StateError when corrupt."""
    return engine.AgentState.from_dict(data) if data else None


def redact_json(value: Any, max_chars: int) -> Any:
    """`value` with personal data in every string, object keys included, replaced by
    placeholders; keys that become equal are numbered, so no value is lost."""
    if isinstance(value, str):
        return engine.redact_personal_data(value, max_chars)
    if isinstance(value, dict):
        redacted: dict[str, Any] = {}
        for key, item in value.items():
            name = engine.redact_personal_data(key, max_chars)
            number = 2
            while name in redacted:
                name = f"{engine.redact_personal_data(key, max_chars)} ({number})"
                number += 1
            redacted[name] = redact_json(item, max_chars)
        return redacted
    if isinstance(value, list):
        return [redact_json(item, max_chars) for item in value]
    return value
