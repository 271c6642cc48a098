"""Shape checks for the two websocket protocols' client messages, before strawberry reads them.

strawberry indexes into a message as if it were well formed, so `null`, `[]` or a string
payload raised inside the connection's task and dropped the socket without a close code.
These functions name what is wrong instead; the handlers (server/websockets.py) then close
with 4400 (graphql-transport-ws) or answer an `error` message (legacy graphql-ws, which has
no close code for it).
"""

from __future__ import annotations

_PAYLOAD_FIELDS = (
    ("query", str),
    ("operationName", str),
    ("variables", dict),
    ("extensions", dict),
)


def _payload_problem(kind: str, payload: object) -> str | None:
    if not isinstance(payload, dict):
        return f"{kind} needs an object `payload`"
    for key, expected in _PAYLOAD_FIELDS:
        value = payload.get(key)
        if value is not None and not isinstance(value, expected):
            return (
                f"{kind}'s payload.{key} must be {'a string' if expected is str else 'an object'}"
            )
    return None


def _common_problem(message: object, with_id: tuple[str, ...]) -> str | None:
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string `type`"
    if kind in with_id and not (isinstance(message.get("id"), str) and message["id"]):
        return f"{kind} needs a non-empty string `id`"
    payload = message.get("payload")
    if kind == "connection_init" and payload is not None and not isinstance(payload, dict):
        return "connection_init's payload must be an object"
    return None


def transport_ws_problem(message: object) -> str | None:
    """What is wrong with a graphql-transport-ws message, or None when it is well formed."""
    problem = _common_problem(message, with_id=("subscribe", "complete"))
    if problem is None and isinstance(message, dict) and message["type"] == "subscribe":
        return _payload_problem("subscribe", message.get("payload"))
    return problem


def legacy_ws_problem(message: object) -> str | None:
    """What is wrong with a legacy graphql-ws message, or None when it is well formed."""
    problem = _common_problem(message, with_id=("start", "stop"))
    if problem is None and isinstance(message, dict) and message["type"] == "start":
        return _payload_problem("start", message.get("payload"))
    return problem
