"""The evaluation-only queries: one engine stage on a text, with the defaults or an agent's
configuration; nothing is stored. Each runs the ethics stage as `process` does: with the
semantic guard and, for an agent, its active feedback marks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import engine
from resolvers.agents import load_visible_agent
from resolvers.context import Info
from resolvers.engine_inputs import checked_text, config_for
from resolvers.feedback import active_feedback

Result = TypeVar("Result")


async def _agent_setup(
    info: Info, agent_id: uuid.UUID | None
) -> tuple[engine.EngineConfig, list[str]]:
    """The defaults, or the agent's stored configuration (never above the server's input
    cap), and the agent's active feedback mark ids (none without an agent)."""
    configuration: dict[str, Any] = {}
    feedback_ids: list[str] = []
    if agent_id is not None:
        agent = await load_visible_agent(info.context, agent_id)
        configuration, feedback_ids = agent.configuration, agent.ethics_feedback
    return config_for(info.context.settings, configuration), feedback_ids


Stage = Callable[
    [str, engine.EngineConfig, engine.SemanticGuard | None, Sequence[engine.Feedback]], Result
]


async def evaluate(
    info: Info, text: str, agent_id: uuid.UUID | None, stage: Stage[Result]
) -> Result:
    """The engine `stage` (e.g. engine.evaluate_ethics) on the checked text, with the semantic
    guard and the agent's active feedback marks, in a worker thread (see
    resolvers/consciousness.py)."""
    checked = checked_text(info.context.settings, text, "text")
    config, feedback_ids = await _agent_setup(info, agent_id)
    feedback = await active_feedback(info.context, feedback_ids)
    app = info.context.app
    return await app.run_engine(stage, checked, config, app.guard, feedback)
