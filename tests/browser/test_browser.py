"""GraphiQL and the live dashboard in a real browser (chromium through playwright-core).

Each page loads under the intended Content-Security-Policy with every request recorded:
nothing may go to another origin and nothing may be refused. Screenshots go to
tests/browser/artifacts/.
"""

from __future__ import annotations

import json
from typing import Any

from server.rest.endpoints import API_PREFIX, ENDPOINTS
from tests.browser.conftest import ARTIFACTS, SHORT_TOKEN_SECONDS, Account, Browser, new_account

FEED_AND_CHARTS_LIMIT_MS = 2000


# GraphiQL's modal dialogs (Radix, through react-remove-scroll) inject one <style> element to
# lock the page's scrolling while open. Without style-src 'unsafe-inline' the browser refuses
# it and the dialogs still work (the GraphiQL page does not scroll anyway); nothing else may
# be refused.
DIALOG_SCROLL_LOCK = "style-src-elem inline {url}/static/graphiql/graphiql.js"


def _assert_same_origin_only(
    result: dict[str, Any], url: str, allowed_violations: tuple[str, ...] = ()
) -> None:
    ws_origin = url.replace("http://", "ws://")
    assert result["requests"], "no request was recorded"
    assert [u for u in result["requests"] if not u.startswith(url + "/")] == []
    assert [u for u in result["websockets"] if not u.startswith(ws_origin + "/")] == []
    refused = [
        violation
        for violation in result["cspViolations"]
        if not any(violation.startswith(allowed) for allowed in allowed_violations)
    ]
    assert refused == []
    assert result["pageErrors"] == []


def test_graphiql_is_self_hosted_and_runs_a_query_and_a_subscription(
    browser: Browser, account: Account
) -> None:
    result = browser.run("graphiql", url=account.url, token=account.token, agentId=account.agent_id)

    _assert_same_origin_only(result, account.url, (DIALOG_SCROLL_LOCK.format(url=account.url),))
    assert any(u.endswith("/static/graphiql/graphiql.js") for u in result["requests"])
    assert json.loads(result["query"])["data"]["me"]["username"] == account.username
    # the subscription ran over graphql-transport-ws, authenticated from the header editor
    assert result["websockets"] == [account.url.replace("http://", "ws://") + "/graphql"]
    init = next(json.loads(f) for f in result["framesSent"] if '"connection_init"' in f)
    assert init["payload"] == {"Authorization": f"Bearer {account.token}"}
    assert result["requestId"] in result["subscription"]
    assert (ARTIFACTS / "graphiql.png").stat().st_size > 0


def test_rest_reference_is_self_hosted_and_lists_every_endpoint(
    browser: Browser, account: Account
) -> None:
    result = browser.run("apidocs", url=account.url)

    _assert_same_origin_only(result, account.url)
    assert f"{account.url}/api/v1/openapi.json" in result["requests"]
    assert any(u.endswith("/static/apidocs/swagger-ui-bundle.js") for u in result["requests"])
    assert sorted(result["operations"]) == sorted(API_PREFIX + e.path for e in ENDPOINTS)
    assert (ARTIFACTS / "apidocs.png").stat().st_size > 0


def test_dashboard_signs_in_and_shows_a_new_request_live(
    browser: Browser, account: Account
) -> None:
    result = browser.run(
        "dashboard",
        url=account.url,
        username=account.username,
        password=account.password,
        token=account.token,
        agentId=account.agent_id,
    )

    _assert_same_origin_only(result, account.url)
    assert len(result["canvases"]) == 3
    assert all(width > 100 and height > 100 for width, height in result["canvases"])
    assert result["feedAndChartsMs"] < FEED_AND_CHARTS_LIMIT_MS
    (
        _time,
        agent,
        source,
        model,
        provider,
        _ms,
        _awareness,
        _ethical,
        tokens,
        outcome,
        violations,
    ) = result["row"]
    assert agent == "Browser agent"
    assert (source, model, provider, tokens) == ("graphql", "—", "—", "—")
    assert outcome == "ok"
    assert violations == "Personal data"  # the e-mail address in the input
    _assert_observed_call(result["observed"])
    assert result["summaryCount"] >= 1
    assert result["agentStatusMs"] < FEED_AND_CHARTS_LIMIT_MS
    assert result["connection"]["state"] == "connected"
    # readable on a phone: nothing wider than the viewport
    assert result["phone"]["scrollWidth"] <= result["phone"]["innerWidth"]
    for name in ("dashboard-1280.png", "dashboard-phone.png"):
        assert (ARTIFACTS / name).stat().st_size > 0


def _assert_observed_call(observed: dict[str, Any]) -> None:
    """The GenAI span sent to /v1/traces: in the feed with its dimensions, which filter the
    feed, and grouped by each of them in the breakdown."""
    _time, agent, source, model, provider, *_numbers, tokens, outcome, _v = observed["row"]
    assert (agent, source, model, provider) == (
        "Browser agent",
        "otlp",
        "browser-model-1",
        "browser-provider",
    )
    assert (tokens, outcome) == ("12 / 34", "ok")
    assert sorted(observed["all"]) == ["graphql", "otlp"]
    assert observed["otlpOnly"] == ["otlp"]
    assert observed["modelOnly"] == ["otlp"]
    assert observed["shownText"] == "1 of 2 shown"
    expected = {
        "byModel": ("Model", "browser-model-1"),
        "bySource": ("Source", "otlp"),
        "byProvider": ("Provider", "browser-provider"),
    }
    for name, (header, key) in expected.items():
        assert observed[name]["header"] == header
        rows = {row[0]: row[1:] for row in observed[name]["rows"]}
        requests, _mean_ms, input_tokens, output_tokens, blocked = rows[key]
        assert (requests, input_tokens, output_tokens, blocked) == ("1", "12", "34", "0")
    graphql_row = {row[0]: row[1:] for row in observed["bySource"]["rows"]}["graphql"]
    assert graphql_row[0] == "1"  # the process request of the scenario
    assert graphql_row[2:4] == ["0", "0"]  # no tokens: the engine's own answer


def test_dashboard_shows_an_alert_firing(browser: Browser, alerts_server: str) -> None:
    account = new_account(alerts_server)
    result = browser.run(
        "alerts",
        url=account.url,
        username=account.username,
        password=account.password,
        token=account.token,
        agentId=account.agent_id,
    )

    _assert_same_origin_only(result, account.url)
    _time, rule, state, value, threshold = result["row"]
    assert (rule, state, value, threshold) == ("any request", "firing", "1.000", "1.000")
    assert result["emptyHidden"] is True


def test_dashboard_reconnects_and_resumes_where_it_stopped(
    browser: Browser, account: Account
) -> None:
    result = browser.run("resume", url=account.url, token=account.token, agentId=account.agent_id)

    assert result["cspViolations"] == []
    assert result["pageErrors"] == []
    assert result["stateWhileCut"] == "reconnecting"
    # the request processed while disconnected arrived through the resumed subscription,
    # once, in order (the feed lists the newest first)
    assert result["order"] == [result["after"], result["during"], result["before"]]
    assert int(result["connection"]["reconnects"]) >= 1
    assert int(result["connection"]["resumes"]) >= 1
    assert "reconnect" in result["text"]
    assert result["who"] == f"Signed in as {account.username}"  # from the pasted token


def test_dashboard_renews_an_expired_token_and_resumes(
    browser: Browser, short_token_server: str
) -> None:
    # the server closes the socket (4401) when the access token expires; the dashboard
    # spends its refresh token, opens a new socket and resumes where it stopped
    account = new_account(short_token_server)
    result = browser.run(
        "renewal",
        url=account.url,
        username=account.username,
        password=account.password,
        agentId=account.agent_id,
        expirySeconds=SHORT_TOKEN_SECONDS,
    )

    assert result["cspViolations"] == []
    assert result["pageErrors"] == []
    assert result["signinHidden"] is True
    assert int(result["connection"]["reconnects"]) >= 1
    assert result["connection"]["state"] == "connected"
    assert result["order"][:2] == [result["after"], result["before"]]
