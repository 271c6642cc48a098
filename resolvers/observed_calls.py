"""GenAI spans read as observed model calls: what an OTLP span says an agent asked and got.

A span is a GenAI span when one of its attributes is in the `gen_ai.` namespace of the
OpenTelemetry GenAI semantic conventions. Both generations are read: the current names
(`gen_ai.provider.name`, `gen_ai.input.messages` / `gen_ai.output.messages` as message
lists with `parts`) and the deprecated ones (`gen_ai.system`, `gen_ai.prompt` /
`gen_ai.completion` as text, JSON or `.N.content` attributes, the `gen_ai.content.prompt` /
`gen_ai.content.completion` span events, `gen_ai.usage.prompt_tokens` /
`completion_tokens`). Unknown attributes are ignored. The agent is named by
`gen_ai.agent.name`, else `gen_ai.agent.id`, else the resource's `service.name`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import redact_personal_data

GENAI_PREFIX = "gen_ai."
SOURCE_OTLP = "otlp"
UNKNOWN_SERVICE = "unknown_service"
MAX_TOKENS = 2**32 - 1  # the metrics columns are UInt32
MAX_LABEL_CHARS = 200  # model, provider and the like: a label, not a document

AttributeValue = Any  # str | bool | int | float | bytes | list[...] | dict[str, ...] | None


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as OTLP carried it, decoded by the transport; nothing interpreted yet."""

    trace_id: str  # hex
    span_id: str  # hex
    name: str
    start_unix_nano: int
    end_unix_nano: int
    attributes: Mapping[str, AttributeValue]
    resource: Mapping[str, AttributeValue] = field(default_factory=dict)
    events: Sequence[tuple[str, Mapping[str, AttributeValue]]] = ()

    @property
    def is_genai(self) -> bool:
        """Whether the span carries an attribute of the GenAI conventions."""
        return any(key.startswith(GENAI_PREFIX) for key in self.attributes)


class SpanRejected(Exception):
    """A GenAI span this server cannot take; the message says why (partial success)."""


@dataclass(frozen=True)
class ObservedCall:
    """What one GenAI span says: which agent, what went in and out, model, usage, ids."""

    agent_name: str
    input_text: str
    output_text: str | None
    model: str
    provider: str
    operation: str
    input_tokens: int
    output_tokens: int
    trace_id: str
    span_id: str
    duration_ms: float
    conversation_id: str | None = None
    # The session's request id, fixed when the call is queued: a replayed batch finds it
    # stored and does not store it twice.
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def to_json(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: every field is a plain value, and asdict's
        # deep copy was a tenth of what queueing a span cost.
        found = {name: getattr(self, name) for name in _FIELD_NAMES}
        found["request_id"] = str(self.request_id)
        return found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObservedCall:
        return cls(**{**data, "request_id": uuid.UUID(data["request_id"])})

    def metrics_columns(self) -> dict[str, Any]:
        """The metrics row's fields that describe the observed call (core.records.MetricsRow)."""
        return {
            "source": SOURCE_OTLP,
            "model": self.model,
            "provider": self.provider,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }

    def redacted_context(self, max_chars: int) -> dict[str, Any]:
        """What the session keeps of the span besides its texts, personal data redacted as
        in any context. The keys are ours and the ids hex (server/otlp_codec.py), so only the
        client's strings are read; operation, model and provider, which nearly every span
        repeats, through a small cache of the last 256 (bounded labels; what it keeps stays
        in memory, never stored), and the conversation id each time."""
        found: dict[str, Any] = {"source": SOURCE_OTLP}
        if self.trace_id:
            found["trace_id"] = self.trace_id
        if self.span_id:
            found["span_id"] = self.span_id
        for key, value in (
            ("operation", self.operation),
            ("model", self.model),
            ("provider", self.provider),
        ):
            if value:
                found[key] = _redacted_name(value, max_chars)
        if self.conversation_id:
            found["conversation_id"] = redact_personal_data(self.conversation_id, max_chars)
        return found


@functools.lru_cache(maxsize=256)
def _redacted_name(value: str, max_chars: int) -> str:
    return redact_personal_data(value, max_chars)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ObservedCall))
# Providers' own names for the conventions' roles (Gemini "model", LangChain "ai"/"human",
# Cohere "chatbot", OpenAI "developer" and the older "function").
_ROLE_ALIASES = {
    "model": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "chatbot": "assistant",
    "human": "user",
    "developer": "system",
    "function": "tool",
}
_MESSAGE_EVENTS = frozenset(
    f"gen_ai.{role}.message" for role in ("system", "user", "assistant", "tool")
)


def observed_call(span: ReceivedSpan, max_input_chars: int) -> ObservedCall:
    """The call a GenAI span describes; SpanRejected when it carries no input text.

    The input analysed is what the user says in this call (`_new_turns`), its last
    `max_input_chars` characters when longer.
    """
    attributes = _with_event_attributes(span)
    messages = _messages(attributes, "gen_ai.input.messages", "gen_ai.prompt")
    input_text = "\n".join(_new_turns(messages)).strip()
    if not input_text:
        raise SpanRejected(
            f"span {span.span_id}: no input messages (gen_ai.input.messages or gen_ai.prompt);"
            " is message content capture on?"
        )
    outputs = _messages(attributes, "gen_ai.output.messages", "gen_ai.completion")
    output_text = "\n".join(text for _, text in outputs if text).strip() or None
    return ObservedCall(
        agent_name=_label(
            attributes.get("gen_ai.agent.name")
            or attributes.get("gen_ai.agent.id")
            or span.resource.get("service.name")
            or UNKNOWN_SERVICE
        ),
        input_text=input_text[-max_input_chars:],
        output_text=output_text,
        model=_label(
            attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
        ),
        provider=_label(attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")),
        operation=_label(attributes.get("gen_ai.operation.name") or span.name),
        input_tokens=_tokens(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        output_tokens=_tokens(
            attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
        ),
        trace_id=span.trace_id,
        span_id=span.span_id,
        duration_ms=max(0, span.end_unix_nano - span.start_unix_nano) / 1e6,
        conversation_id=_label(attributes.get("gen_ai.conversation.id")) or None,
    )


def _new_turns(messages: Sequence[tuple[str, str]]) -> list[str]:
    """The user's texts after the model's last message in the history; when the call adds
    no user text (it carries a tool's result, or only an image), the newest user text, the
    request the agent is still answering; every text when no message is the user's.

    A span's input is the whole conversation so far, and the earlier turns were the input
    of the calls that answered them. Judging them again in every later call repeated their
    findings in every later session, cost work that grew with the conversation, and left
    the newest turn to the end of the text, past the contextual stage's first sentences.
    """
    last_reply = max((i for i, (role, _) in enumerate(messages) if role == "assistant"), default=-1)
    added = [text for role, text in messages[last_reply + 1 :] if role == "user" and text.strip()]
    if added:
        return added
    users = [text for role, text in messages if role == "user" and text.strip()]
    return users[-1:] if users else [text for _, text in messages if text.strip()]


def _with_event_attributes(span: ReceivedSpan) -> dict[str, AttributeValue]:
    """The span's attributes, plus the deprecated content events' and the per-message events'
    (`gen_ai.{system,user,assistant,tool}.message` in order, `gen_ai.choice`) as message
    lists, where the span has none. The assistant's events mark where the new turn starts
    (`_new_turns`)."""
    merged = dict(span.attributes)
    event_messages: dict[str, list[dict[str, Any]]] = {}
    for name, values in span.events:
        if name in ("gen_ai.content.prompt", "gen_ai.content.completion"):
            for key, value in values.items():
                merged.setdefault(key, value)
        elif name in _MESSAGE_EVENTS:
            role = name.split(".")[1]
            event_messages.setdefault("gen_ai.input.messages", []).append(
                {"role": role, "content": values.get("content")}
            )
        elif name == "gen_ai.choice":
            message = _as_json(values.get("message"))
            event_messages.setdefault("gen_ai.output.messages", []).append(
                message if isinstance(message, dict) else {"content": values.get("content")}
            )
    for key, found in event_messages.items():
        merged.setdefault(key, found)
    return merged


def _messages(
    attributes: Mapping[str, AttributeValue], current: str, deprecated: str
) -> list[tuple[str, str]]:
    """(role, text) of each message under the current name, else the deprecated one; a
    message without text (an assistant's tool call) is kept, with "" as its text."""
    value = attributes.get(current)
    if value is None:
        value = attributes.get(deprecated)
    if value is None:  # the indexed form: gen_ai.prompt.0.role / gen_ai.prompt.0.content
        value = _indexed(attributes, deprecated)
    value = _as_json(value)
    if isinstance(value, str):
        return [("user" if deprecated == "gen_ai.prompt" else "assistant", value)]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [
        (_role(item.get("role")), _message_text(item)) for item in value if isinstance(item, dict)
    ]


def _role(value: AttributeValue) -> str:
    """A message's role in the conventions' words (system, user, assistant, tool), also
    where an instrumentation wrote its provider's own ("model", "human", "Assistant")."""
    role = str(value or "").strip().lower()
    return _ROLE_ALIASES.get(role, role)


def _indexed(attributes: Mapping[str, AttributeValue], prefix: str) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        parts = key[len(prefix) + 1 :].split(".") if key.startswith(prefix + ".") else []
        if len(parts) == 2 and parts[0].isdigit():
            found.setdefault(int(parts[0]), {})[parts[1]] = value
    return [found[index] for index in sorted(found)]


def _message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: its text parts (current form) or its `content` (older)."""
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [
            str(part.get("content"))
            for part in parts
            if isinstance(part, dict) and part.get("type") == "text" and part.get("content")
        ]
        return "\n".join(texts)
    content = message.get("content")
    if isinstance(content, list):  # OpenAI-style content parts
        return "\n".join(
            str(part.get("text")) for part in content if isinstance(part, dict) and part.get("text")
        )
    if isinstance(message.get("message"), dict):
        return _message_text(message["message"])
    return content if isinstance(content, str) else ""


def _as_json(value: AttributeValue) -> AttributeValue:
    """A string holding a JSON array or object, parsed; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _label(value: AttributeValue) -> str:
    return "" if value is None else str(value).strip()[:MAX_LABEL_CHARS]


def _tokens(attributes: Mapping[str, AttributeValue], current: str, deprecated: str) -> int:
    value = attributes.get(current, attributes.get(deprecated))
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return min(MAX_TOKENS, max(0, int(value)))
    except ValueError:
        return 0
