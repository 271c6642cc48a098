"""Experimental fields: the RESEARCH tier or the consciousness:experimental permission."""

from __future__ import annotations

import httpx
import pytest

from core.enums import Role, Tier
from tests.auth.conftest import SignIn
from tests.support import bearer, error_codes, graphql

ATTRIBUTION = """
query($text: String!) {
  ethicalAttribution(input: {text: $text}) {
    ethics { overallScore blocked }
    spans { start end matchedText ruleIds scoreWithout scoreChange blockedWithout }
    omittedSpans
  }
}"""
TEXT = "Charge 4111 1111 1111 1111 now."


@pytest.mark.parametrize(
    ("role", "tier"),
    [(Role.USER, Tier.RESEARCH), (Role.RESEARCHER, Tier.BASIC), (Role.ADMIN, Tier.ENTERPRISE)],
)
async def test_research_tier_or_experimental_permission_may_use_attribution(
    client: httpx.AsyncClient, sign_in: SignIn, role: Role, tier: Tier
) -> None:
    tokens = await sign_in("curious", role, tier)
    body = await graphql(client, ATTRIBUTION, {"text": TEXT}, headers=bearer(tokens["accessToken"]))
    assert "errors" not in body, body
    attribution = body["data"]["ethicalAttribution"]  # type: ignore[index]
    [span] = attribution["spans"]
    assert TEXT[span["start"] : span["end"]] == "4111 1111 1111 1111"
    assert span["ruleIds"] == ["PII-payment-card"]
    assert span["scoreWithout"] == 1.0
    assert span["scoreChange"] == pytest.approx(1.0 - attribution["ethics"]["overallScore"])


@pytest.mark.parametrize("tier", [Tier.BASIC, Tier.ADVANCED, Tier.ENTERPRISE])
async def test_other_tiers_without_the_permission_are_forbidden(
    client: httpx.AsyncClient, sign_in: SignIn, tier: Tier
) -> None:
    tokens = await sign_in("plain", Role.DEVELOPER, tier)
    body = await graphql(client, ATTRIBUTION, {"text": TEXT}, headers=bearer(tokens["accessToken"]))
    assert error_codes(body) == ["FORBIDDEN"]
    assert "RESEARCH tier" in body["errors"][0]["message"]  # type: ignore[index]


async def test_attribution_needs_a_token(client: httpx.AsyncClient) -> None:
    body = await graphql(client, ATTRIBUTION, {"text": TEXT})
    assert error_codes(body) == ["UNAUTHENTICATED"]
