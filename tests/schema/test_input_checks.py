"""Text with control characters and values nested too deep are BAD_USER_INPUT on both store
columns, in variables and in the document, and change nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from db.models import Agent
from db.stores import Stores
from schema.input_checks import MAX_INPUT_DEPTH
from tests.support import bearer, error_codes, graphql, register

CREATE = "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id name } }"
LIST = "query($f: AgentFilter) { agents(filter: $f) { edges { node { id } } } }"


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


async def _agents(stores: Stores) -> int:
    from sqlmodel import func, select

    async with stores.database.session() as session:
        return int((await session.exec(select(func.count()).select_from(Agent))).one())


def _refused(body: dict[str, object], field: str) -> str:
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    error = body["errors"][0]  # type: ignore[index]
    assert error["extensions"]["field"] == field  # type: ignore[index]
    message: str = error["message"]  # type: ignore[index]
    return message


@pytest.mark.parametrize(
    ("text", "field"),
    [("bad\x00name", "input.name"), ("bell\x07", "input.name"), ("esc\x1b[0m", "input.name")],
)
async def test_control_characters_in_variables_are_refused(
    client: httpx.AsyncClient, stores: Stores, text: str, field: str
) -> None:
    headers = bearer((await register(client, "texter"))["accessToken"])
    body = await graphql(
        client, CREATE, {"input": {"name": text, "agentType": "GENERAL"}}, headers=headers
    )
    assert "control character" in _refused(body, field)
    assert await _agents(stores) == 0


async def test_control_characters_in_document_literals_and_filters_are_refused(
    client: httpx.AsyncClient,
) -> None:
    headers = bearer((await register(client, "literal"))["accessToken"])
    inline = '{ agents(filter: {nameContains: "a\\u0000b"}) { edges { node { id } } } }'
    _refused(await graphql(client, inline, headers=headers), "filter.nameContains")
    body = await graphql(client, LIST, {"f": {"nameContains": "x\x00"}}, headers=headers)
    _refused(body, "f.nameContains")


async def test_tabs_and_line_breaks_are_text(client: httpx.AsyncClient) -> None:
    headers = bearer((await register(client, "tabber"))["accessToken"])
    name = "tab\there\r\nand newline"
    body = await graphql(
        client, CREATE, {"input": {"name": name, "agentType": "GENERAL"}}, headers=headers
    )
    assert body["data"]["createAgent"]["name"] == name  # type: ignore[index]


async def test_deeply_nested_json_is_refused_not_internal(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    headers = bearer((await register(client, "nester"))["accessToken"])
    deep_json = '{"a":' * 1000 + '"leaf"' + "}" * 1000  # beyond what json.dumps would write
    variables = (
        f'{{"input": {{"name": "deep", "agentType": "GENERAL", "configuration": {deep_json}}}}}'
    )
    raw = f'{{"query": {json.dumps(CREATE)}, "variables": {variables}}}'
    response = await client.post(
        "/graphql", content=raw, headers={**headers, "content-type": "application/json"}
    )
    where = "input." + ".".join(["configuration"] + ["a"] * (MAX_INPUT_DEPTH - 1))
    assert f"more than {MAX_INPUT_DEPTH} levels" in _refused(response.json(), where)
    literal = "{a: " * 200 + '"leaf"' + "}" * 200
    inline = (
        'mutation { createAgent(input: {name: "deep", agentType: GENERAL, '
        f"configuration: {literal}}}) {{ id }} }}"
    )
    body = await graphql(client, inline, headers=headers)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    allowed = {"name": "ok", "agentType": "GENERAL", "configuration": nested(MAX_INPUT_DEPTH - 1)}
    body = await graphql(client, CREATE, {"input": allowed}, headers=headers)
    assert _refused(body, "configuration.a").startswith("configuration.a unknown key")  # got past
    assert await _agents(stores) == 0


async def test_control_characters_in_json_keys_are_refused(client: httpx.AsyncClient) -> None:
    headers = bearer((await register(client, "keyer"))["accessToken"])
    config = {"name": "k", "agentType": "GENERAL", "configuration": {"bad\x00key": 1}}
    body = await graphql(client, CREATE, {"input": config}, headers=headers)
    assert "control character" in _refused(body, "input.configuration (a key)")
