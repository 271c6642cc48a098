"""The language-model responder against a real local server speaking chat completions."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import engine
from outbound.language_model import ChatCompletions
from resolvers import responders
from tests.apps import Running
from tests.conftest import make_settings
from tests.consciousness.conftest import (
    PROCESS,
    MakeCaller,
    active_agent,
    process_input,
    stored_sessions,
)

SESSIONS = """
query($agentId: UUID!) {
  consciousnessSessions(agentId: $agentId) {
    edges { node { response violations { ruleId } responseViolations { ruleId category } } }
  }
}"""
API_KEY = "test-llm-key"  # a placeholder the fake server checks, not a credential
FRIENDLY = "Lisbon is lovely in spring; pack light shoes for the hills."
HOSTILE = "I will kill you and your family tonight."


class FakeModel:
    """Answers by model name: echo, hostile, broken (HTTP 500), slow (sleeps 2 s)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "auth": request.headers.get("authorization")})
        model = body["model"]
        if model == "broken":
            return Response("upstream exploded", status_code=500)
        if model == "slow":
            await asyncio.sleep(2)
        text = HOSTILE if model == "hostile" else FRIENDLY
        return JSONResponse(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def fake_model() -> Iterator[tuple[str, FakeModel]]:
    """A chat-completions server under uvicorn, in its own thread, for this module."""
    model = FakeModel()
    app = Starlette(routes=[Route("/v1/chat/completions", model.completions, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the fake model server did not start"
    yield f"http://127.0.0.1:{port}/v1", model
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def allow_fake(monkeypatch: pytest.MonkeyPatch, fake_model: tuple[str, FakeModel]) -> FakeModel:
    """The app's settings are shared and frozen; allow the fake server's URL for this test."""
    url, model = fake_model
    monkeypatch.setattr(responders, "base_url_allowed", lambda _settings, base: base == url)
    model.requests.clear()
    return model


def responder_config(url: str, model: str) -> dict[str, Any]:
    return {"responder": {"base_url": url, "model": model, "temperature": 0.0}}


async def test_model_writes_the_content_of_a_redacted_prompt(
    caller: MakeCaller, app: Running, fake_model: tuple[str, FakeModel], allow_fake: FakeModel
) -> None:
    owner = await caller("chatter")
    agent_id = await active_agent(owner, configuration=responder_config(fake_model[0], "echo"))
    text = "Planning Lisbon in May, reach me at jane.doe@example.com. Any tips?"
    answer = (await owner.ok(PROCESS, input=process_input(agent_id, text)))["process"]
    assert answer["content"] == FRIENDLY
    report = answer["processingMetrics"]["responder"]
    assert report == {
        "name": "language_model",
        "model": "echo",
        "fellBack": False,
        "outputBlocked": False,
        "note": None,
    }
    [sent] = allow_fake.requests
    prompt = sent["body"]["messages"][-1]["content"]
    assert "[EMAIL]" in prompt
    assert "jane.doe" not in prompt
    assert sent["body"]["temperature"] == 0.0
    [stored] = await stored_sessions(app, agent_id)
    assert stored.texts.response_text == FRIENDLY
    assert stored.row.processing_metrics["responder"]["name"] == "language_model"


async def test_blocked_model_output_is_replaced_by_a_refusal_and_recorded(
    caller: MakeCaller, app: Running, fake_model: tuple[str, FakeModel], allow_fake: FakeModel
) -> None:
    owner = await caller("provoker")
    agent_id = await active_agent(owner, configuration=responder_config(fake_model[0], "hostile"))
    answer = (await owner.ok(PROCESS, input=process_input(agent_id, "Tell me about Lisbon.")))[
        "process"
    ]
    assert answer["content"] == engine.REFUSAL
    assert answer["decision"] == "ANSWERED"  # the input was fine; its answer was not
    assert answer["processingMetrics"]["responder"]["outputBlocked"] is True
    assert any(flag.startswith("response blocked") for flag in answer["flags"])
    assert "kill" not in answer["content"]
    [stored_row] = await stored_sessions(app, agent_id)
    assert stored_row.texts.response_text == engine.REFUSAL
    response = stored_row.row.ethical_evaluation["response"]
    assert response["blocked"] is True
    assert {v["category"] for v in response["violations"]} == {"S1"}
    sessions = await owner.ok(SESSIONS, agentId=agent_id)
    [stored] = sessions["consciousnessSessions"]["edges"]
    assert stored["node"]["responseViolations"][0]["category"] == "S1"
    assert stored["node"]["violations"] == []


async def test_failing_model_falls_back_to_the_reflective_responder(
    caller: MakeCaller, fake_model: tuple[str, FakeModel], allow_fake: FakeModel
) -> None:
    owner = await caller("unlucky_chatter")
    agent_id = await active_agent(owner, configuration=responder_config(fake_model[0], "broken"))
    text = "Tell me about Lisbon."
    answer = (await owner.ok(PROCESS, input=process_input(agent_id, text)))["process"]
    report = answer["processingMetrics"]["responder"]
    assert report["name"] == "reflective"
    assert report["fellBack"] is True
    assert "HTTP 500" in report["note"]
    expected = engine.process(engine.EngineRequest(text), None, engine.EngineConfig())
    assert answer["content"] == expected.content


async def test_blocked_input_never_reaches_the_model(
    caller: MakeCaller, fake_model: tuple[str, FakeModel], allow_fake: FakeModel
) -> None:
    owner = await caller("careful")
    agent_id = await active_agent(owner, configuration=responder_config(fake_model[0], "echo"))
    body = await owner.send(PROCESS, input=process_input(agent_id, HOSTILE))
    assert body["errors"][0]["extensions"]["code"] == "ETHICAL_VIOLATION"
    assert allow_fake.requests == []


async def test_option_turns_the_model_off(
    caller: MakeCaller, fake_model: tuple[str, FakeModel], allow_fake: FakeModel
) -> None:
    owner = await caller("offline")
    agent_id = await active_agent(owner, configuration=responder_config(fake_model[0], "echo"))
    options = {"useLanguageModel": False}
    data = await owner.ok(PROCESS, input=process_input(agent_id, "Hello there.", options=options))
    assert data["process"]["processingMetrics"]["responder"]["name"] == "reflective"
    assert allow_fake.requests == []


async def test_timeouts_and_unlisted_urls_fall_back_with_a_note(
    fake_model: tuple[str, FakeModel], tmp_path: Path
) -> None:
    url, model = fake_model
    settings = make_settings(
        tmp_path, llm_allowed_base_urls=url, llm_timeout_seconds=0.3, llm_api_key=API_KEY
    )
    config = engine.EngineConfig.from_mapping(responder_config(url, "slow"))
    assert config.responder is not None
    language_model = ChatCompletions(settings.llm_api_key, settings.llm_timeout_seconds)
    slow = await responders.compose_with_model(
        settings, language_model, config.responder, "Hello.", config
    )
    assert (slow.content, slow.fell_back, slow.note) == (
        None,
        True,
        "language model unavailable: timed out",
    )
    assert model.requests[-1]["auth"] == f"Bearer {API_KEY}"
    elsewhere = engine.EngineConfig.from_mapping(responder_config("http://10.0.0.1/v1", "echo"))
    assert elsewhere.responder is not None
    refused = await responders.compose_with_model(
        settings, language_model, elsewhere.responder, "Hello.", config
    )
    await language_model.aclose()
    assert refused.fell_back is True
    assert "LLM_ALLOWED_BASE_URLS" in (refused.note or "")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"model": "m"}, "responder.base_url"),
        ({"base_url": "ftp://x", "model": "m"}, "responder.base_url"),
        ({"base_url": "http://x", "model": "m", "temperature": 3}, "responder.temperature"),
        ({"base_url": "http://x", "model": "m", "extra": 1}, "responder.extra"),
    ],
)
def test_bad_responder_sections_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(engine.ConfigError) as caught:
        engine.EngineConfig.from_mapping({"responder": section})
    assert caught.value.key == key
