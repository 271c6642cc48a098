"""The `alerts` subscription over a real websocket: FIRING, then RESOLVED, of own rules only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.alerts.conftest import NOW, MakeApp, minutes_before
from tests.live.client import Socket

ALERTS = """subscription($since: Int) {
  alerts(since: $since) { sequence ruleId ownerId ruleName state previousState value threshold }
}"""


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_alerts_subscription_sees_firing_then_resolved(
    alert_app: MakeApp, protocol: str
) -> None:
    async with alert_app(served=True) as app:
        user, other = await app.member(), await app.member()
        agent, others_agent = await user.create_agent(), await other.create_agent()
        created = await user.count_rule(2, name="busy")
        others = await other.count_rule(name="theirs")
        socket = await Socket.open(app.url, user.token, protocol)
        try:
            # since=0: what was published before the subscription was live is replayed.
            await socket.subscribe("alerts", ALERTS, since=0)
            await user.insert(agent, minutes_before(NOW, 1, 2))
            await other.insert(others_agent, minutes_before(NOW, 1))
            await app.cycle(NOW)
            await app.cycle(NOW + timedelta(minutes=10))
            firing = await socket.data("alerts")
            resolved = await socket.data("alerts")
        finally:
            await socket.close()
        rule_id = created["rule"]["id"]
        assert (firing["ruleId"], firing["state"], firing["previousState"]) == (
            rule_id,
            "FIRING",
            "OK",
        )
        assert (firing["ownerId"], firing["ruleName"], firing["value"]) == (
            str(user.id),
            "busy",
            2.0,
        )
        assert (resolved["ruleId"], resolved["state"], resolved["previousState"]) == (
            rule_id,
            "RESOLVED",
            "FIRING",
        )
        assert resolved["sequence"] == firing["sequence"] + 1
        # The other user's rule fired too, but on their own topic only.
        assert [h["state"] for h in await other.history(others["rule"]["id"])] == [
            "FIRING",
            "RESOLVED",
        ]
