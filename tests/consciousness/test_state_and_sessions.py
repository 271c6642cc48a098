"""`consciousnessState` and `consciousnessSessions`: typed state, keyset pages, cursors."""

from __future__ import annotations

import uuid
from typing import Any

from db.stores import Stores
from tests.agents.conftest import insert_sessions
from tests.apps import Running
from tests.consciousness.conftest import (
    PROCESS,
    MakeCaller,
    active_agent,
    only_error,
    process_input,
)

STATE = """
query($id: UUID!) {
  consciousnessState(agentId: $id) {
    sessions awarenessLevel violationRate emotions { joy } violationCounts { category sessions }
  }
}"""
SESSIONS = """
query($id: UUID!, $first: Int!, $after: String) {
  consciousnessSessions(agentId: $id, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node {
      id requestId createdAt input response blocked awarenessLevel ethicalScore confidence
      processingTimeMs violations { ruleId category severity start end } context
    } }
  }
}"""


async def test_a_fresh_agent_has_zero_sessions_and_null_averages(caller: MakeCaller) -> None:
    owner = await caller("newcomer")
    agent = await owner.create("fresh")
    state = (await owner.ok(STATE, id=agent["id"]))["consciousnessState"]
    assert state == {
        "sessions": 0,
        "awarenessLevel": None,
        "violationRate": None,
        "emotions": None,
        "violationCounts": [],
    }


async def test_state_and_sessions_follow_processing(caller: MakeCaller) -> None:
    owner = await caller("diarist")
    agent_id = await active_agent(owner)
    await owner.ok(
        PROCESS,
        input=process_input(
            agent_id,
            "Write to me at jane.doe@example.com.",
            context={"note": "from jane.doe@example.com", "n": 1},
        ),
    )
    await owner.send(
        PROCESS, input=process_input(agent_id, "I will kill you and your family tonight.")
    )
    state = (await owner.ok(STATE, id=agent_id))["consciousnessState"]
    assert state["sessions"] == 2
    assert 0 <= state["awarenessLevel"] <= 1
    assert {"category": "S1", "sessions": 1} in state["violationCounts"]
    page = (await owner.ok(SESSIONS, id=agent_id, first=10))["consciousnessSessions"]
    newest, oldest = (edge["node"] for edge in page["edges"])
    assert newest["blocked"] is True
    assert newest["response"] is None
    assert any(v["category"] == "S1" and v["severity"] == "HIGH" for v in newest["violations"])
    assert oldest["input"] == "Write to me at [EMAIL]."
    assert oldest["response"]
    assert oldest["context"] == {"note": "from [EMAIL]", "n": 1}
    assert [v["category"] for v in oldest["violations"]] == ["PII"]


async def test_sessions_page_newest_first_and_refuse_bad_cursors(
    caller: MakeCaller, stores: Stores, app: Running
) -> None:
    owner = await caller("archivist")
    agent = await owner.create("busy")
    other = await owner.create("other")
    rows = await insert_sessions(
        app, uuid.UUID(agent["id"]), owner.user_id, [float(n) for n in range(5)]
    )
    expected = [str(row.id) for row in reversed(rows)]
    seen: list[str] = []
    after = None
    pages: list[dict[str, Any]] = []
    while True:
        page = (await owner.ok(SESSIONS, id=agent["id"], first=2, after=after))[
            "consciousnessSessions"
        ]
        pages.append(page)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert page["totalCount"] == 5
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    assert [len(p["edges"]) for p in pages] == [2, 2, 1]
    assert pages[1]["pageInfo"]["hasPreviousPage"] is True

    cursor = pages[0]["pageInfo"]["endCursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad, target in ((tampered, agent["id"]), (cursor, other["id"]), ("%%%", agent["id"])):
        error = only_error(await owner.send(SESSIONS, id=target, first=2, after=bad))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == "after"
    error = only_error(await owner.send(SESSIONS, id=agent["id"], first=101))
    assert error["extensions"]["field"] == "first"


async def test_another_users_sessions_are_not_found(caller: MakeCaller) -> None:
    owner, stranger = await caller("keeper"), await caller("snoop")
    agent = await owner.create("private")
    error = only_error(await stranger.send(SESSIONS, id=agent["id"], first=5))
    assert error["extensions"]["code"] == "NOT_FOUND"
