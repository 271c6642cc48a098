"""Response content from an OpenAI-compatible chat-completions service, checked by the engine.

Used when an agent's configuration has a `responder` section (engine.config.ResponderConfig)
and its base URL is allowed by LLM_ALLOWED_BASE_URLS. The flow, before the engine run:

1. the engine's ethics stage judges the input (with the semantic guard and the agent's
   feedback marks, as `process` will); a blocked input never reaches the model;
2. the model receives the input with personal data redacted (engine.redact), never raw;
3. any failure (not allowed, timeout, HTTP error, malformed answer) falls back to the
   engine's reflective responder, with a note saying why; it never fails the request.

The model's output then goes through `engine.process` as the responder's content, where
the SAME ethics stage checks it: a blocked output is replaced by engine.REFUSAL and its
findings are stored with the session.

The model's text is not a deterministic function of the input, unlike everything else the
engine returns; the report says which responder wrote the content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import engine
from core.settings import Settings
from engine.config import ResponderConfig
from outbound.language_model import ChatCompletions, LanguageModelFailure

log = logging.getLogger(__name__)

REFLECTIVE = "reflective"
LANGUAGE_MODEL = "language_model"
OBSERVED = "observed"  # the content is a real model's output, received in an OTLP span


@dataclass(frozen=True)
class ResponderOutcome:
    """What a language model produced for one input, or why the reflective responder answers.

    `content` None means: let the engine's reflective responder write the content.
    """

    content: str | None
    name: str
    model: str | None
    fell_back: bool = False
    note: str | None = None


REFLECTIVE_OUTCOME = ResponderOutcome(content=None, name=REFLECTIVE, model=None)


def base_url_allowed(settings: Settings, base_url: str) -> bool:
    """True when `base_url` is one of LLM_ALLOWED_BASE_URLS (trailing slashes ignored)."""
    allowed = {url.rstrip("/") for url in settings.llm_allowed_base_urls}
    return base_url.rstrip("/") in allowed


async def compose_with_model(
    settings: Settings,
    language_model: ChatCompletions,
    responder: ResponderConfig,
    text: str,
    config: engine.EngineConfig,
    *,
    guard: engine.SemanticGuard | None = None,
    feedback: Sequence[engine.Feedback] = (),
) -> ResponderOutcome:
    """Steps 1-3 of the module docstring, for one input."""

    def fallback(note: str) -> ResponderOutcome:
        return ResponderOutcome(
            content=None, name=REFLECTIVE, model=responder.model, fell_back=True, note=note
        )

    if not base_url_allowed(settings, responder.base_url):
        return fallback("the responder's base_url is not in LLM_ALLOWED_BASE_URLS")
    verdict = await asyncio.to_thread(engine.evaluate_ethics, text, config, guard, feedback)
    if verdict.blocked:
        return REFLECTIVE_OUTCOME  # no content will be written; the model is not asked
    prompt = engine.redact(text[: config.max_input_chars], verdict.violations)
    try:
        output = await language_model.complete(
            responder.base_url,
            responder.model,
            responder.temperature,
            responder.system_prompt,
            prompt,
        )
    except LanguageModelFailure as exc:
        log.warning("language model responder failed: %s", exc)
        return fallback(f"language model unavailable: {exc}")
    return ResponderOutcome(content=output, name=LANGUAGE_MODEL, model=responder.model)
