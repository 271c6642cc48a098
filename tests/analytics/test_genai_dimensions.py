"""The analytics query over ingested GenAI calls: grouped by model, provider and source,
with token sums, checked against sums computed in Python from the same rows."""

from __future__ import annotations

import uuid
from collections import defaultdict

from tests.agents.conftest import MakeCaller
from tests.analytics.conftest import ANALYTICS, Metrics, make_row, query_vars

GENAI_ANALYTICS = ANALYTICS.replace("violationCategory", "violationCategory model provider source")
TOKEN_SUMS = [
    {"function": "COUNT"},
    {"function": "SUM", "field": "INPUT_TOKENS"},
    {"function": "SUM", "field": "OUTPUT_TOKENS"},
]


async def test_groups_by_model_provider_and_source_sum_their_tokens(
    caller: MakeCaller, metrics: Metrics
) -> None:
    alice = await caller("alice")
    agent = uuid.uuid4()
    calls = [("gpt-4o", "openai"), ("claude-3", "anthropic"), ("gpt-4o", "openai")]
    rows = [make_row(alice.user_id, agent, index) for index in range(2)]  # process: graphql
    rows += [
        make_row(
            alice.user_id,
            agent,
            10 + index,
            source="otlp",
            model=model,
            provider=provider,
            input_tokens=100 * (index + 1),
            output_tokens=index + 1,
        )
        for index, (model, provider) in enumerate(calls)
    ]
    await metrics.insert(rows)
    data = await alice.ok(
        GENAI_ANALYTICS,
        **query_vars(aggregations=TOKEN_SUMS, groupBy=["SOURCE", "PROVIDER", "MODEL"]),
    )
    expected: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for row in rows:
        key = (row.get("source", "graphql"), row.get("provider", ""), row.get("model", ""))
        sums = expected[key]
        sums[0] += 1
        sums[1] += row.get("input_tokens", 0)
        sums[2] += row.get("output_tokens", 0)
    found = {
        (r["source"], r["provider"], r["model"]): [v["value"] for v in r["values"]]
        for r in data["analytics"]["rows"]
    }
    assert found == dict(expected)
    assert found[("otlp", "openai", "gpt-4o")] == [2, 400, 4]
    assert found[("graphql", "", "")] == [2, 0, 0]
