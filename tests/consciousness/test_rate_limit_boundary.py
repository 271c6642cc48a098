"""The tier limit is exact at its boundary when the calls arrive all at once."""

from __future__ import annotations

import asyncio

from auth.ratelimit import TIER_LIMITS
from core.enums import Role, Tier
from db.models import ConsciousnessSession
from db.stores import Stores
from tests.consciousness.conftest import (
    PROCESS,
    MakeCaller,
    active_agent,
    count_rows,
    process_input,
)
from tests.support import error_codes


async def test_150_concurrent_calls_against_a_limit_of_100_let_exactly_100_through(
    caller: MakeCaller, stores: Stores
) -> None:
    limit = TIER_LIMITS[Tier.BASIC]
    assert limit is not None
    assert limit.amount == 100
    owner = await caller("crowd", Role.USER, Tier.BASIC)
    agent_id = await active_agent(owner)
    bodies = await asyncio.gather(
        *(owner.send(PROCESS, input=process_input(agent_id, f"call {n}")) for n in range(150))
    )
    outcomes = [tuple(error_codes(body)) for body in bodies]
    assert outcomes.count(()) == 100
    assert outcomes.count(("RATE_LIMITED",)) == 50
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 100
