"""What a session keeps of an observed call's span: redacted like any context, cheaply."""

from __future__ import annotations

import uuid

from resolvers.engine_inputs import redact_json
from resolvers.observed_calls import SOURCE_OTLP, ObservedCall


def _call(**fields: object) -> ObservedCall:
    base: dict[str, object] = {
        "agent_name": "scout",
        "input_text": "Plan my week.",
        "output_text": "Sure.",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "operation": "chat",
        "input_tokens": 10,
        "output_tokens": 5,
        "trace_id": "ab" * 16,
        "span_id": "4111111111111111",  # hex that reads as a card number: an id, kept
        "duration_ms": 12.5,
    }
    return ObservedCall(**{**base, **fields})  # type: ignore[arg-type]


def test_the_clients_strings_are_redacted_and_the_ids_kept() -> None:
    call = _call(model="ask jane.doe@example.com", conversation_id="call +44 20 7946 0958")
    context = call.redacted_context(20_000)
    assert context["source"] == SOURCE_OTLP
    assert context["span_id"] == "4111111111111111"
    assert context["trace_id"] == "ab" * 16
    assert "jane.doe@example.com" not in context["model"]
    assert "7946" not in context["conversation_id"]
    assert (context["operation"], context["provider"]) == ("chat", "openai")
    # the same as redacting every string of it, but for the hex ids
    everything = redact_json({**context, "model": call.model, "span_id": "x"}, 20_000)
    assert everything["model"] == context["model"]


def test_empty_fields_are_left_out_and_json_round_trips() -> None:
    call = _call(provider="", conversation_id=None)
    assert set(call.redacted_context(20_000)) == {
        "source",
        "trace_id",
        "span_id",
        "operation",
        "model",
    }
    assert ObservedCall.from_json(call.to_json()) == call
    assert isinstance(call.to_json()["request_id"], str)
    assert uuid.UUID(call.to_json()["request_id"]) == call.request_id
