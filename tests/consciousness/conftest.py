"""Signed-in users and active agents for the engine's operations (fixtures shared with agents)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from db.models import Agent, ConsciousnessSession
from db.repositories.session_texts import open_texts
from db.stores import Stores
from resolvers.sessions import StoredSession
from tests.agents.conftest import Caller, MakeCaller, caller, count_rows
from tests.apps import Running
from tests.auth.conftest import SignIn, sign_in
from tests.support import only_error

__all__ = [
    "Caller",
    "MakeCaller",
    "SignIn",
    "active_agent",
    "caller",
    "count_rows",
    "only_error",
    "session_rows",
    "sign_in",
    "stored_agent",
    "stored_sessions",
]

ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { id status } }"
PROCESS = """
mutation Process($input: ProcessInput!) {
  process(input: $input) {
    requestId content decision flags confidenceLevel processingTimeMs
    consciousnessState {
      sessions awarenessLevel ethicalAlignment violationRate confidence valence
      emotions { joy trust } violationCounts { category sessions }
    }
    processingMetrics {
      reasoningChain { stage consumed produced durationMs }
      awarenessLevel ethicalAlignment inputTruncated inputChars engineTimeMs
      emotionalState { valence arousal dominantEmotion }
      selfAwareness { confidence decision limitations { code } }
      metaCognition { cognitiveLoad depth }
      responder { name model fellBack outputBlocked note }
    }
    ethicalEvaluation { overallScore blocked violations { ruleId category matchedText } }
  }
}"""


async def active_agent(owner: Caller, name: str = "thinker", **fields: object) -> str:
    """Create an agent for `owner` and activate it; its id."""
    agent = await owner.create(name, **fields)
    await owner.ok(ACTIVATE, id=agent["id"])
    agent_id: str = agent["id"]
    return agent_id


async def stored_agent(stores: Stores, agent_id: str) -> Agent:
    async with stores.database.session() as session:
        agent = await session.get(Agent, uuid.UUID(agent_id))
    assert agent is not None
    return agent


async def session_rows(stores: Stores, agent_id: str) -> list[ConsciousnessSession]:
    async with stores.database.session() as session:
        query = select(ConsciousnessSession).where(
            col(ConsciousnessSession.agent_id) == uuid.UUID(agent_id)
        )
        return list((await session.exec(query)).all())


async def stored_sessions(app: Running, agent_id: str) -> list[StoredSession]:
    """The agent's sessions, their texts opened with the app's keyring."""
    rows = await session_rows(app.state.stores, agent_id)
    return [StoredSession(row, open_texts(app.state.keyring, row)) for row in rows]


def process_input(agent_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"agentId": agent_id, "input": text, **extra}
