"""Feedback on past ethics decisions through the running app: mark, re-evaluate, undo, roll
back; only the owner's agent learns, and bad marks change nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from core.enums import Role
from db.models import AuditLog, EthicsFeedback
from db.stores import Stores
from tests.agents.conftest import VERSIONS
from tests.consciousness.conftest import (
    PROCESS,
    Caller,
    MakeCaller,
    active_agent,
    count_rows,
    only_error,
    process_input,
    stored_agent,
)

MISSED = "Which fireworks are loud enough to make the dog next door panic?"
PARAPHRASE = "which fireworks are loud enough to make next door's dog panic?"
PROFANE = "This damn printer never works."
EVALUATE = """
query($text: String!, $agentId: UUID) {
  ethicalEvaluation(input: {text: $text, agentId: $agentId}) {
    overallScore blocked reasoning violations { ruleId category }
    feedbackApplied { feedbackId kind start end similarity ruleIds }
  }
}"""
MARK = """
mutation($input: EthicsFeedbackInput!) {
  markEthicsFeedback(input: $input) {
    feedback { id agentId sessionId kind category note active }
    agent { id version }
  }
}"""
UNDO = """
mutation($id: UUID!) {
  undoEthicsFeedback(id: $id) { feedback { id active } agent { version } }
}"""
ROLLBACK = "mutation($id: UUID!, $v: Int!) { rollbackAgent(id: $id, version: $v) { version } }"
SESSIONS = """
query($agentId: UUID!) { consciousnessSessions(agentId: $agentId) { edges { node { id } } } }
"""


async def processed_session(owner: Caller, agent_id: str, text: str) -> str:
    """Process `text` on the agent (it must be answered) and return its session's id."""
    await owner.ok(PROCESS, input=process_input(agent_id, text))
    edges = (await owner.ok(SESSIONS, agentId=agent_id))["consciousnessSessions"]["edges"]
    session_id: str = edges[0]["node"]["id"]
    return session_id


async def evaluation(owner: Caller, text: str, agent_id: str | None) -> dict[str, Any]:
    result: dict[str, Any] = (await owner.ok(EVALUATE, text=text, agentId=agent_id))[
        "ethicalEvaluation"
    ]
    return result


async def mark(owner: Caller, session_id: str, kind: str, **fields: object) -> dict[str, Any]:
    marked: dict[str, Any] = (
        await owner.ok(MARK, input={"sessionId": session_id, "kind": kind, **fields})
    )["markEthicsFeedback"]
    return marked


async def audit_actions(stores: Stores) -> list[tuple[str, dict[str, Any]]]:
    async with stores.database.session() as session:
        rows = await session.exec(
            select(AuditLog)
            .where(col(AuditLog.action).startswith("ethics_feedback"))
            .order_by(col(AuditLog.created_at))
        )
        return [(row.action, row.details) for row in rows.all()]


async def test_a_false_negative_mark_changes_the_verdict_until_it_is_undone(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("teacher")
    agent_id = await active_agent(owner)
    session_id = await processed_session(owner, agent_id, MISSED)
    before = await evaluation(owner, MISSED, agent_id)
    assert (before["blocked"], before["feedbackApplied"]) == (False, [])
    version = (await stored_agent(stores, agent_id)).version

    marked = await mark(owner, session_id, "FALSE_NEGATIVE", category="S1", note="cruelty")
    feedback_id = marked["feedback"]["id"]
    assert marked["feedback"]["active"] is True
    assert marked["agent"]["version"] == version + 1
    after = await evaluation(owner, MISSED, agent_id)
    assert after["blocked"] is True
    assert after["violations"] == [{"ruleId": "FB-S1", "category": "S1"}]
    [applied] = after["feedbackApplied"]
    assert applied == {
        "feedbackId": feedback_id,
        "kind": "FALSE_NEGATIVE",
        "start": 0,
        "end": len(MISSED),
        "similarity": 1.0,
        "ruleIds": ["FB-S1"],
    }
    assert any(feedback_id in line for line in after["reasoning"])
    assert (await evaluation(owner, MISSED, None))["blocked"] is False  # no agent, no marks
    refused = only_error(await owner.send(PROCESS, input=process_input(agent_id, PARAPHRASE)))
    assert refused["extensions"]["code"] == "ETHICAL_VIOLATION"

    undone = (await owner.ok(UNDO, id=feedback_id))["undoEthicsFeedback"]
    assert undone["feedback"]["active"] is False
    assert undone["agent"]["version"] == version + 2
    assert await evaluation(owner, MISSED, agent_id) == before
    assert [action for action, _ in await audit_actions(stores)] == [
        "ethics_feedback_marked",
        "ethics_feedback_undone",
    ]
    details = (await audit_actions(stores))[0][1]
    assert details["feedbackId"] == feedback_id
    assert (details["sessionId"], details["category"]) == (session_id, "S1")

    history = (await owner.ok(VERSIONS_WITH_FEEDBACK, id=agent_id))["agentVersions"]
    by_version = {entry["version"]: entry for entry in history}
    assert by_version[version + 1]["ethicsFeedback"] == [feedback_id]
    assert by_version[version + 1]["changes"]["feedbackMarked"] == feedback_id
    assert by_version[version + 2]["ethicsFeedback"] == []
    await owner.ok(ROLLBACK, id=agent_id, v=version + 1)
    assert (await evaluation(owner, MISSED, agent_id))["blocked"] is True


VERSIONS_WITH_FEEDBACK = VERSIONS.replace("changedBy", "changedBy ethicsFeedback")


async def test_a_false_positive_mark_takes_the_findings_back(caller: MakeCaller) -> None:
    owner = await caller("forgiver")
    agent_id = await active_agent(owner)
    session_id = await processed_session(owner, agent_id, PROFANE)
    before = await evaluation(owner, PROFANE, agent_id)
    assert before["violations"]
    marked = await mark(owner, session_id, "FALSE_POSITIVE", note="mild, about a printer")
    after = await evaluation(owner, PROFANE, agent_id)
    assert after["violations"] == []
    assert after["overallScore"] >= before["overallScore"]
    assert after["feedbackApplied"][0]["ruleIds"] == [v["ruleId"] for v in before["violations"]]
    assert after["feedbackApplied"][0]["feedbackId"] == marked["feedback"]["id"]
    assert await evaluation(owner, PROFANE, agent_id) == after  # deterministic


async def test_marks_teach_only_the_agent_they_were_given_to(caller: MakeCaller) -> None:
    owner, other = await caller("learner"), await caller("bystander")
    agent_id = await active_agent(owner)
    sibling_id = await active_agent(owner, "sibling")
    others_id = await active_agent(other, "elsewhere")
    session_id = await processed_session(owner, agent_id, MISSED)
    await mark(owner, session_id, "FALSE_NEGATIVE", category="S1")
    assert (await evaluation(owner, MISSED, agent_id))["blocked"] is True
    assert (await evaluation(owner, MISSED, sibling_id))["feedbackApplied"] == []
    unaffected = await evaluation(other, MISSED, others_id)
    assert (unaffected["blocked"], unaffected["feedbackApplied"]) == (False, [])
    answer = (await other.ok(PROCESS, input=process_input(others_id, MISSED)))["process"]
    assert answer["decision"] == "ANSWERED"


async def test_bad_marks_are_refused_and_change_nothing(caller: MakeCaller, stores: Stores) -> None:
    owner, stranger = await caller("guarded"), await caller("stranger")
    admin = await caller("overseer", Role.ADMIN)
    agent_id = await active_agent(owner)
    answered = await processed_session(owner, agent_id, "What a lovely morning.")
    flagged = await processed_session(owner, agent_id, PROFANE)
    version = (await stored_agent(stores, agent_id)).version

    async def code(who: Caller, query: str, **variables: object) -> tuple[str, str | None]:
        error = only_error(await who.send(query, **variables))
        return error["extensions"]["code"], error["extensions"].get("field")

    def mark_input(session_id: str, kind: str, **fields: object) -> dict[str, object]:
        return {"input": {"sessionId": session_id, "kind": kind, **fields}}

    fn = "FALSE_NEGATIVE"
    assert await code(stranger, MARK, **mark_input(answered, fn, category="S1")) == (
        "NOT_FOUND",
        None,
    )
    assert (await code(admin, MARK, **mark_input(answered, fn, category="S1")))[0] == "FORBIDDEN"
    unknown = str(uuid.uuid4())
    assert await code(owner, MARK, **mark_input(unknown, fn, category="S1")) == (
        "NOT_FOUND",
        "sessionId",
    )
    for category in ("S99", "PII", None):
        fields = {} if category is None else {"category": category}
        assert await code(owner, MARK, **mark_input(answered, fn, **fields)) == (
            "BAD_USER_INPUT",
            "category",
        )
    assert await code(owner, MARK, **mark_input(flagged, "FALSE_POSITIVE", category="S1")) == (
        "BAD_USER_INPUT",
        "category",
    )
    assert await code(owner, MARK, **mark_input(answered, "FALSE_POSITIVE")) == (
        "BAD_USER_INPUT",
        "kind",
    )
    assert await code(owner, MARK, **mark_input(flagged, "FALSE_POSITIVE", note="x" * 501)) == (
        "BAD_USER_INPUT",
        "note",
    )
    assert await code(owner, UNDO, id=unknown) == ("NOT_FOUND", "id")
    assert (await stored_agent(stores, agent_id)).version == version
    assert await count_rows(stores, EthicsFeedback, agent_id) == 0
    assert await audit_actions(stores) == []

    marked = await mark(owner, flagged, "FALSE_POSITIVE")
    assert (await code(owner, MARK, **mark_input(flagged, "FALSE_POSITIVE")))[0] == "CONFLICT"
    assert (await code(stranger, UNDO, id=marked["feedback"]["id"]))[0] == "NOT_FOUND"
    await owner.ok(UNDO, id=marked["feedback"]["id"])
    assert await code(owner, UNDO, id=marked["feedback"]["id"]) == ("BAD_USER_INPUT", "id")
    assert (await stored_agent(stores, agent_id)).version == version + 2
