"""What a real server's /metrics holds, to check the deploy/ files that query it against.

`scrape_after_traffic` sends the app traffic that makes every family of server/metrics.py
appear (an engine run, a rate-limit refusal, errors), then reads /metrics. `Exported.problems`
says what in a selector (tests/deploy/promql.py) the server does not export.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from strawberry.types.graphql import OperationType

from core.errors import ErrorCode
from server.telemetry import NO_CODE, OK, UNKNOWN_TYPE
from tests.deploy.promql import Selector
from tests.support import LOGIN, bearer, graphql, register

TARGET_LABELS = frozenset({"job", "instance"})  # added by Prometheus when it scrapes
# Labels whose values a query may name: the values the server can give them, from the code
# (type, outcome) or, for the rest, as the scrape shows them.
CHECKED_VALUES = {
    "type": {kind.value for kind in OperationType} | {UNKNOWN_TYPE},
    "outcome": {code.value for code in ErrorCode} | {OK, NO_CODE},
    "state": set(),
}
CREATE_AGENT = "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }"
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { id } }"
PROCESS = "mutation Think($input: ProcessInput!) { process(input: $input) { requestId } }"


@dataclass(frozen=True)
class Exported:
    labels: dict[str, frozenset[str]]  # each sample name -> the label names it carries
    values: dict[str, frozenset[str]]  # each checked label -> the values it may take

    def problems(self, selector: Selector, *, series: bool = False) -> list[str]:
        """What `selector` names that /metrics lacks; with `series` (a promtool input series),
        also a label set that is not exactly the real one plus job and instance."""
        carried = self.labels.get(selector.metric)
        if carried is None:
            return [f"{selector.metric} is not in /metrics"]
        found = []
        named = {matcher.label for matcher in selector.matchers}
        for label in sorted(named - carried - TARGET_LABELS):
            found.append(f"{selector.metric} has no label {label}")
        if series and named - TARGET_LABELS != carried:
            found.append(f"{selector.metric} carries {sorted(carried)}, the series {sorted(named)}")
        for matcher in selector.matchers:
            allowed = self.values.get(matcher.label)
            if allowed is None:
                continue
            given = set(matcher.value.split("|")) if "~" in matcher.op else {matcher.value}
            for value in sorted(given - allowed):
                found.append(f"{selector.metric}: {matcher.label} is never {value!r}")
        return found


async def scrape_after_traffic(client: httpx.AsyncClient) -> Exported:
    user = await register(client, "scraped")
    token = bearer(user["accessToken"])
    agent = {"input": {"name": "scraped", "agentType": "ANALYTICAL"}}
    body = await graphql(client, CREATE_AGENT, agent, headers=token)
    agent_id = body["data"]["createAgent"]["id"]  # type: ignore[index]
    assert "errors" not in await graphql(client, ACTIVATE, {"id": agent_id}, headers=token)
    variables = {"input": {"agentId": agent_id, "input": "A calm, clear morning."}}
    assert "errors" not in await graphql(client, PROCESS, variables, headers=token)
    await graphql(client, "{ broken")  # does not parse
    for _ in range(6):  # the 6th failed sign-in in a minute is refused: rate_limit_refusals
        await graphql(client, LOGIN, {"username": "scraped", "password": "wrong password 1"})
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    labels: dict[str, set[str]] = {}
    values = {label: set(known) for label, known in CHECKED_VALUES.items()}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            for label, value in sample.labels.items():
                if label in values and not CHECKED_VALUES[label]:
                    values[label].add(value)
    return Exported(
        {name: frozenset(carried) for name, carried in labels.items()},
        {label: frozenset(known) for label, known in values.items()},
    )
