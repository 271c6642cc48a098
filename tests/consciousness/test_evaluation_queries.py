"""The evaluation-only queries end to end: results, bad input, permissions, tier rate limits."""

from __future__ import annotations

import httpx
import pytest

from auth.ratelimit import TIER_LIMITS
from core.enums import Role, Tier
from tests.auth.conftest import SignIn
from tests.support import bearer, error_codes, graphql

ETHICS = """
query($text: String!) {
  ethicalEvaluation(input: {text: $text}) {
    overallScore blocked violations { ruleId category severity start end matchedText }
    frameworks { framework score weight }
  }
}"""
AWARENESS = """
query($text: String!) {
  selfAwareness(input: {text: $text}) { confidence decision reflection limitations { code } }
}"""
METACOGNITION = """
query($text: String!) {
  metaCognition(input: {text: $text}) {
    cognitiveLoad depth biasMarkers { distortion start end matchedText } passes { index name }
    readability { words gradeLevel }
  }
}"""


async def test_ethical_evaluation_reports_a_card_number_with_its_span(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    tokens = await sign_in("ethicist")
    text = "Please charge my card 4111 1111 1111 1111 today."
    body = await graphql(client, ETHICS, {"text": text}, headers=bearer(tokens["accessToken"]))
    evaluation = body["data"]["ethicalEvaluation"]  # type: ignore[index]
    cards = [
        v for v in evaluation["violations"] if text[v["start"] : v["end"]] == "4111 1111 1111 1111"
    ]
    assert cards, evaluation["violations"]
    assert cards[0]["category"] == "PII"
    assert 0 <= evaluation["overallScore"] < 1
    assert {f["framework"] for f in evaluation["frameworks"]} == {
        "utilitarian",
        "deontological",
        "virtue",
    }


async def test_self_awareness_and_metacognition_answer(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    tokens = await sign_in("thinker")
    headers = bearer(tokens["accessToken"])
    text = "Everyone always ignores me. I should never make mistakes, it would be a disaster."
    awareness = (await graphql(client, AWARENESS, {"text": text}, headers=headers))["data"]
    assert 0 <= awareness["selfAwareness"]["confidence"] <= 1  # type: ignore[index]
    assert awareness["selfAwareness"]["decision"] in {"ANSWERED", "FLAGGED", "REFUSED"}  # type: ignore[index]
    meta = (await graphql(client, METACOGNITION, {"text": text}, headers=headers))["data"]
    markers = meta["metaCognition"]["biasMarkers"]  # type: ignore[index]
    assert markers
    for marker in markers:
        assert text[marker["start"] : marker["end"]] == marker["matchedText"]


@pytest.mark.parametrize("text", ["", "   "])
async def test_empty_text_is_bad_user_input(
    client: httpx.AsyncClient, sign_in: SignIn, text: str
) -> None:
    tokens = await sign_in("blank")
    body = await graphql(client, ETHICS, {"text": text}, headers=bearer(tokens["accessToken"]))
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "text"  # type: ignore[index]


async def test_too_long_text_is_bad_user_input(
    client: httpx.AsyncClient, sign_in: SignIn, settings: object
) -> None:
    tokens = await sign_in("verbose")
    text = "a" * (settings.max_input_chars + 1)
    body = await graphql(client, ETHICS, {"text": text}, headers=bearer(tokens["accessToken"]))
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_anonymous_evaluation_is_unauthenticated(client: httpx.AsyncClient) -> None:
    assert error_codes(await graphql(client, ETHICS, {"text": "hi"})) == ["UNAUTHENTICATED"]


async def test_request_101_of_a_basic_user_is_refused(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    limit = TIER_LIMITS[Tier.BASIC]
    assert limit is not None
    tokens = await sign_in("basic_user", Role.USER, Tier.BASIC)
    headers = bearer(tokens["accessToken"])
    query = '{ ethicalEvaluation(input: {text: "hello"}) { overallScore } }'
    for _ in range(limit.amount):
        assert "errors" not in await graphql(client, query, headers=headers)
    refused = await graphql(client, query, headers=headers)
    assert error_codes(refused) == ["RATE_LIMITED"]
    assert refused["errors"][0]["extensions"]["retryAfter"] >= 1  # type: ignore[index]
    assert refused["data"] is None


async def test_enterprise_user_is_not_limited(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    basic_limit = TIER_LIMITS[Tier.BASIC]
    assert basic_limit is not None
    tokens = await sign_in("big_customer", Role.USER, Tier.ENTERPRISE)
    headers = bearer(tokens["accessToken"])
    query = '{ ethicalEvaluation(input: {text: "hello"}) { overallScore } }'
    for _ in range(basic_limit.amount + 5):
        assert "errors" not in await graphql(client, query, headers=headers)


CREATE_AGENT = """
mutation($config: JSON!) {
  createAgent(input: {name: "strict", agentType: GENERAL, configuration: $config}) { id }
}"""
AGENT_ETHICS = """
query($text: String!, $agent: UUID!) {
  ethicalEvaluation(input: {text: $text, agentId: $agent}) { overallScore blocked }
}"""


async def test_agent_configuration_sets_the_blocking_threshold(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    tokens = await sign_in("configurer")
    headers = bearer(tokens["accessToken"])
    text = "My card is 4111 1111 1111 1111."
    default = await graphql(client, ETHICS, {"text": text}, headers=headers)
    assert default["data"]["ethicalEvaluation"]["blocked"] is False  # type: ignore[index]
    created = await graphql(
        client, CREATE_AGENT, {"config": {"blocking_threshold": 0.99}}, headers=headers
    )
    agent_id = created["data"]["createAgent"]["id"]  # type: ignore[index]
    strict = await graphql(client, AGENT_ETHICS, {"text": text, "agent": agent_id}, headers=headers)
    assert strict["data"]["ethicalEvaluation"]["blocked"] is True  # type: ignore[index]

    stranger = await sign_in("stranger")
    foreign = await graphql(
        client,
        AGENT_ETHICS,
        {"text": text, "agent": agent_id},
        headers=bearer(stranger["accessToken"]),
    )
    assert error_codes(foreign) == ["NOT_FOUND"]
