"""Shape checks of websocket client messages (server/ws_messages.py)."""

from __future__ import annotations

import pytest

from server.ws_messages import legacy_ws_problem, transport_ws_problem


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (None, "a message must be a JSON object"),
        ([], "a message must be a JSON object"),
        ({}, "a message needs a string `type`"),
        ({"type": 3}, "a message needs a string `type`"),
        (
            {"type": "subscribe", "payload": {"query": "{ a }"}},
            "subscribe needs a non-empty string `id`",
        ),
        ({"type": "subscribe", "id": "1"}, "subscribe needs an object `payload`"),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": 5}},
            "subscribe's payload.query must be a string",
        ),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": []}},
            "subscribe's payload.variables must be an object",
        ),
        ({"type": "complete", "id": ""}, "complete needs a non-empty string `id`"),
        (
            {"type": "connection_init", "payload": "token"},
            "connection_init's payload must be an object",
        ),
    ],
)
def test_transport_ws_problems_are_named(message: object, problem: str) -> None:
    assert transport_ws_problem(message) == problem


@pytest.mark.parametrize(
    "message",
    [
        {"type": "connection_init"},
        {"type": "connection_init", "payload": {"Authorization": "Bearer x"}},
        {"type": "ping"},
        {"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": None}},
        {"type": "complete", "id": "1"},
        {"type": "an unknown type"},  # strawberry closes it with 4400 "Unknown message type"
    ],
)
def test_well_formed_transport_ws_messages_pass(message: object) -> None:
    assert transport_ws_problem(message) is None


def test_legacy_messages_are_checked_the_same_way() -> None:
    assert legacy_ws_problem({"type": "start", "id": "1"}) == "start needs an object `payload`"
    assert legacy_ws_problem({"type": "stop"}) == "stop needs a non-empty string `id`"
    assert legacy_ws_problem({"type": "start", "id": "1", "payload": {"query": "{ a }"}}) is None
