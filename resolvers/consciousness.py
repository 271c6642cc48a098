"""Use cases of the consciousness engine: the evaluation-only queries.

The engine is pure CPU work; it runs in a worker thread so a long input does not stall
the event loop for other requests (the GIL still bounds how much runs at once).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TypeVar

import engine
from resolvers.agents import load_visible_agent
from schema.errors import BadUserInput
from schema.types.consciousness import AnalysisInput
from server.context import Info

Result = TypeVar("Result")


def _checked_text(info: Info, data: AnalysisInput) -> str:
    """The input text, refused when empty or longer than MAX_INPUT_CHARS."""
    limit = info.context.settings.max_input_chars
    if not data.text.strip():
        raise BadUserInput("text must not be empty", field="text")
    if len(data.text) > limit:
        raise BadUserInput(f"text is longer than {limit} characters", field="text")
    return data.text


async def engine_config(info: Info, agent_id: uuid.UUID | None) -> engine.EngineConfig:
    """The defaults, or the agent's stored configuration; never above the server's input cap."""
    configuration: dict[str, object] = {}
    if agent_id is not None:
        agent = await load_visible_agent(info.context, agent_id)
        configuration = dict(agent.configuration)
    server_cap = info.context.settings.max_input_chars
    wanted = configuration.get("max_input_chars", server_cap)
    configuration["max_input_chars"] = min(
        server_cap, wanted if isinstance(wanted, int) else server_cap
    )
    return engine.EngineConfig.from_mapping(configuration)


async def _evaluate(
    info: Info, data: AnalysisInput, evaluate: Callable[[str, engine.EngineConfig], Result]
) -> Result:
    text = _checked_text(info, data)
    config = await engine_config(info, data.agent_id)
    return await asyncio.to_thread(evaluate, text, config)


async def self_awareness(info: Info, data: AnalysisInput) -> engine.SelfAwarenessResult:
    return await _evaluate(info, data, engine.evaluate_self_awareness)


async def ethical_evaluation(info: Info, data: AnalysisInput) -> engine.EthicsResult:
    return await _evaluate(info, data, engine.evaluate_ethics)


async def meta_cognition(info: Info, data: AnalysisInput) -> engine.MetacognitionResult:
    return await _evaluate(info, data, engine.evaluate_metacognition)
