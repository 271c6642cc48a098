"""Reading GenAI spans of either generation of the conventions into observed calls."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.observed_calls import ReceivedSpan, SpanRejected, observed_call


def _span(attributes: dict[str, Any], **fields: Any) -> ReceivedSpan:
    values: dict[str, Any] = {
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "name": "chat",
        "start_unix_nano": 1_000_000_000,
        "end_unix_nano": 1_500_000_000,
        "attributes": attributes,
        "resource": {"service.name": "svc"},
    }
    return ReceivedSpan(**(values | fields))


def test_structured_messages_keep_the_users_turns_and_the_outputs() -> None:
    call = observed_call(
        _span(
            {
                "gen_ai.input.messages": [  # an AnyValue array of kvlists, not a JSON string
                    {"role": "system", "parts": [{"type": "text", "content": "Be kind."}]},
                    {"role": "user", "parts": [{"type": "text", "content": "First question"}]},
                    {"role": "assistant", "parts": [{"type": "text", "content": "An answer"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "Second one"}]},
                ],
                "gen_ai.output.messages": '[{"role": "assistant", "parts": ['
                '{"type": "reasoning", "content": "hidden"},'
                ' {"type": "text", "content": "Done"}]}]',
                "gen_ai.provider.name": "openai",
                "gen_ai.response.model": "gpt-x-1",
                "gen_ai.request.model": "gpt-x",
            }
        ),
        1000,
    )
    assert call.input_text == "First question\nSecond one"
    assert call.output_text == "Done"
    assert (call.model, call.provider, call.agent_name) == ("gpt-x-1", "openai", "svc")
    assert call.duration_ms == 500.0


def test_the_deprecated_indexed_attributes_and_usage_names_are_read() -> None:
    call = observed_call(
        _span(
            {
                "gen_ai.system": "cohere",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "Translate 'cat'",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "chat",
                "gen_ai.usage.prompt_tokens": 7,
                "gen_ai.usage.completion_tokens": "3",
                "gen_ai.agent.id": "agent-42",
            }
        ),
        1000,
    )
    assert (call.input_text, call.output_text) == ("Translate 'cat'", "chat")
    assert (call.provider, call.input_tokens, call.output_tokens) == ("cohere", 7, 3)
    assert call.agent_name == "agent-42"


def test_content_events_stand_in_for_missing_attributes() -> None:
    events = [
        ("gen_ai.content.prompt", {"gen_ai.prompt": "Hello from an event"}),
        ("gen_ai.choice", {"message": '{"role": "assistant", "content": "Hi!"}'}),
    ]
    call = observed_call(_span({"gen_ai.operation.name": "chat"}, events=events), 1000)
    assert (call.input_text, call.output_text) == ("Hello from an event", "Hi!")


def test_names_prefer_the_agent_name_and_labels_are_bounded() -> None:
    span = _span(
        {
            "gen_ai.agent.name": "  planner  ",
            "gen_ai.agent.id": "id-1",
            "gen_ai.prompt": "Go",
            "gen_ai.request.model": "m" * 500,
            "gen_ai.usage.input_tokens": -5,
            "gen_ai.usage.output_tokens": 2**40,
        }
    )
    call = observed_call(span, 1000)
    assert call.agent_name == "planner"
    assert len(call.model) == 200
    assert (call.input_tokens, call.output_tokens) == (0, 2**32 - 1)


def test_a_long_input_keeps_its_newest_characters() -> None:
    call = observed_call(_span({"gen_ai.prompt": "old " * 100 + "newest"}), 10)
    assert call.input_text == "old newest"


def test_a_genai_span_without_input_is_rejected() -> None:
    with pytest.raises(SpanRejected, match="no input messages"):
        observed_call(_span({"gen_ai.request.model": "m", "gen_ai.completion": "x"}), 1000)


def test_only_gen_ai_attributes_make_a_genai_span() -> None:
    assert not _span({"http.method": "GET", "genai": 1}).is_genai
    assert _span({"gen_ai.tool.name": "search"}).is_genai
