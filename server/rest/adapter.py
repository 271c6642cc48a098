"""The HTTP side of each REST endpoint: request → variables → the operation → response.

The operation runs through `schema.execute` with the context /graphql builds
(server.graphql_app.request_context), so authentication, permissions, tier limits, the
cost budget, error codes and masking, logging, tracing and metrics are the same ones. What
this module adds is only HTTP: where variables come from (endpoints.py), statuses and
problem bodies (problems.py), ETag/If-Match, Location, Link, and streaming an export.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson
from graphql import ListTypeNode, NonNullTypeNode, TypeNode
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.errors import ApiError, http_status
from schema.schema import schema
from server.downloads import export_download
from server.graphql_app import request_context
from server.rest.endpoints import API_PREFIX, ENDPOINTS, FIELDS, Endpoint
from server.rest.openapi import OPENAPI_PATH, openapi_endpoint
from server.rest.operations import Operation, load_operations
from server.rest.problems import client_problem, graphql_problem, problem

EXPECTED_VERSION: Final = "expectedVersion"
_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$')
_INTEGER = re.compile(r"^-?\d{1,18}$")


class Refused(Exception):
    """A request refused before its operation runs; nothing was executed."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def _query_value(type_node: TypeNode, values: list[str]) -> object:
    """A query-string value as the variable's type wants it; what does not convert is
    passed as sent, and GraphQL's coercion names the variable in its BAD_USER_INPUT."""
    if isinstance(type_node, NonNullTypeNode):
        type_node = type_node.type
    if isinstance(type_node, ListTypeNode):
        return [_query_value(type_node.type, [value]) for value in values]
    raw = values[-1]
    name = getattr(getattr(type_node, "name", None), "value", "")
    if name == "Int" and _INTEGER.match(raw):
        return int(raw)
    if name == "Boolean" and raw in ("true", "false"):
        return raw == "true"
    if name == "Float":
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        return None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Refused(415, "the request body must be JSON (Content-Type: application/json)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"the request body is not valid JSON: {exc}") from None


def _if_match(request: Request) -> int:
    value = request.headers.get("if-match")
    if value is None:
        raise Refused(428, "send If-Match with the agent's ETag (GET it first)", "If-Match")
    matched = _ETAG.match(value.strip())
    if matched is None:
        raise Refused(400, 'If-Match must be one ETag of this agent, like "3"', "If-Match")
    return int(matched.group(1))


async def request_variables(
    endpoint: Endpoint, operation: Operation, request: Request
) -> dict[str, object]:
    """The operation's variables from the path, then the body or the query, then If-Match."""
    declared = operation.variables
    variables: dict[str, object] = dict(request.path_params)
    from_headers = {EXPECTED_VERSION} if endpoint.etag and EXPECTED_VERSION in declared else set()
    if endpoint.body == FIELDS:
        body = await _json_body(request)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise Refused(400, "the request body must be a JSON object")
        allowed = set(declared) - set(variables) - from_headers
        for name in body:
            if name not in allowed:
                raise Refused(400, f"unknown field '{name}' in the request body", name)
        variables.update(body)
    elif endpoint.body is not None:
        variables[endpoint.body] = await _json_body(request)
    else:
        for name, definition in declared.items():
            values = request.query_params.getlist(name)
            if name not in variables and values:
                variables[name] = _query_value(definition.type, values)
    if from_headers:
        variables[EXPECTED_VERSION] = _if_match(request)
    return variables


def _success(endpoint: Endpoint, request: Request, value: Any) -> Response:
    if endpoint.status == 204:
        return Response(status_code=204)
    headers: dict[str, str] = {}
    if endpoint.etag:
        headers["etag"] = f'"{value["version"]}"'
    if endpoint.status == 201:
        headers["location"] = f"{request.url.path}/{value['id']}"
    page = value.get("pageInfo") if endpoint.paginated else None
    if page and page["hasNextPage"] and page["endCursor"]:
        following = request.url.include_query_params(after=page["endCursor"])
        headers["link"] = f'<{following}>; rel="next"'
    return Response(orjson.dumps(value), endpoint.status, headers, media_type="application/json")


async def run_endpoint(endpoint: Endpoint, operation: Operation, request: Request) -> Response:
    """Answer one REST request by running its operation (see the module docstring)."""
    instance = request.url.path
    request_id: str = request.scope.get("state", {}).get("request_id", "")
    try:
        variables = await request_variables(endpoint, operation, request)
    except Refused as refused:
        return client_problem(refused.status, refused.detail, instance, request_id, refused.field)
    context = request_context(request, Response())
    context.server_document = True  # ours, in server/rest/operations/: no allow-list check
    result = await schema.execute(
        operation.text,
        variable_values=variables,
        context_value=context,
        operation_name=operation.name,
    )
    if result.errors:
        return graphql_problem(result.errors, instance, request_id)
    assert result.data is not None  # no errors: the root field answered
    value = result.data[operation.root_field]
    if endpoint.download:
        try:
            return await export_download(context.app, value["id"], context.authorization())
        except ApiError as exc:
            code = exc.code.value
            return problem(http_status(exc), exc.message, instance, code, request_id)
    return _success(endpoint, request, value)


def rest_routes() -> list[BaseRoute]:
    """One Starlette route per endpoint, under API_PREFIX; a bad document stops start-up."""
    operations = load_operations()
    routes: list[BaseRoute] = [Route(OPENAPI_PATH, openapi_endpoint, methods=["GET"])]
    for endpoint in ENDPOINTS:
        operation = operations[endpoint.operation]

        async def handle(
            request: Request, endpoint: Endpoint = endpoint, operation: Operation = operation
        ) -> Response:
            return await run_endpoint(endpoint, operation, request)

        routes.append(
            Route(
                API_PREFIX + endpoint.path,
                handle,
                methods=[endpoint.method],
                name=endpoint.operation_id,
            )
        )
    return routes
