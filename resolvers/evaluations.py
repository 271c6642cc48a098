"""The evaluation-only queries: one engine stage on a text, with the defaults or an agent's
configuration; nothing is stored. The ethics stage also runs with the semantic guard, as
`process` does."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import engine
from resolvers.agents import load_visible_agent
from resolvers.consciousness import checked_text, config_for
from resolvers.context import Info

Result = TypeVar("Result")


async def engine_config(info: Info, agent_id: uuid.UUID | None) -> engine.EngineConfig:
    """The defaults, or the agent's stored configuration; never above the server's input cap."""
    configuration: dict[str, Any] = {}
    if agent_id is not None:
        configuration = (await load_visible_agent(info.context, agent_id)).configuration
    return config_for(info.context.settings, configuration)


async def evaluate(
    info: Info,
    text: str,
    agent_id: uuid.UUID | None,
    stage: Callable[[str, engine.EngineConfig], Result],
) -> Result:
    """The engine `stage` (e.g. engine.evaluate_ethics) on the checked text, in a worker
    thread (see resolvers/consciousness.py)."""
    checked = checked_text(info.context.settings, text, "text")
    config = await engine_config(info, agent_id)
    return await info.context.app.run_engine(stage, checked, config)


async def evaluate_ethics(info: Info, text: str, agent_id: uuid.UUID | None) -> engine.EthicsResult:
    """The ethics stage on the checked text, with the semantic guard."""
    checked = checked_text(info.context.settings, text, "text")
    config = await engine_config(info, agent_id)
    app = info.context.app
    return await app.run_engine(engine.evaluate_ethics, checked, config, app.guard)
