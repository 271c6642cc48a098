"""The OpenAPI 3.1 document of /api/v1, generated from the endpoints, their operations and
the schema's types; committed as openapi.json (`make schema`) and served at
/api/v1/openapi.json."""

from __future__ import annotations

import functools
from typing import Any, Final

import orjson
from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    type_from_ast,
    value_from_ast_untyped,
)
from starlette.requests import Request
from starlette.responses import Response

from core.errors import ErrorCode
from schema.schema import schema
from server.rest.endpoints import API_PREFIX, ENDPOINTS, FIELDS, Endpoint
from server.rest.json_schema import REF_PREFIX, JsonSchema, SchemaBuilder, closed_object
from server.rest.operations import Operation, load_operations
from server.rest.problems import PROBLEM_JSON

OPENAPI_PATH: Final = API_PREFIX + "/openapi.json"
API_VERSION: Final = "1"
TAGS: Final = {
    "auth": "Accounts and tokens: register, sign in, refresh, sign out, your profile.",
    "agents": "Your agents: create, read, change (If-Match), delete, lifecycle, versions.",
    "consciousness": "Send text to an agent, and the engine's analyses of a text.",
    "analytics": "Your metrics: aggregates, a time series, sessions, and exports.",
    "system": "Health and status of this server.",
}
EXPORT_MEDIA_TYPES: Final = ("text/csv", "application/x-ndjson", "application/vnd.apache.parquet")
ERRORS: Final = {  # status → when; each answers a problem (RFC 9457)
    "400": "BAD_USER_INPUT: a variable or body field is wrong (`field` names it)",
    "401": "UNAUTHENTICATED: no token, or a bad or expired one",
    "403": "FORBIDDEN: your roles do not allow it",
    "404": "NOT_FOUND: no such thing, or not yours",
    "409": "CONFLICT: the current state does not allow it (a stale version, a taken name)",
    "422": "ETHICAL_VIOLATION: the input was refused (`violations` lists why)",
    "429": "RATE_LIMITED: your tier's limit or cost budget is spent (see Retry-After)",
    "503": "a store is down; retry later",
}
PROBLEM: Final[JsonSchema] = {
    "type": "object",
    "description": "RFC 9457 problem details, with the GraphQL error's code and extensions.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
        "requestId": {"type": "string"},
        "field": {"type": "string", "description": "the variable or field that is wrong"},
        "retryAfter": {"type": "integer", "description": "seconds, with RATE_LIMITED"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status", "detail", "code", "requestId", "errors"],
}


def _problem_response(description: str) -> JsonSchema:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF_PREFIX + "Problem"}}},
    }


def _header(description: str, required: bool = False) -> JsonSchema:
    return {"description": description, "required": required, "schema": {"type": "string"}}


def _result_name(endpoint: Endpoint) -> str:
    return endpoint.operation.removeprefix("Rest") + "Response"


class _Generator:
    def __init__(self) -> None:
        self.types = SchemaBuilder()
        self.graphql = schema._schema

    def variable(self, operation: Operation, name: str) -> tuple[JsonSchema, bool]:
        """A variable's schema, and whether it must be sent (non-null without a default)."""
        definition = operation.variables[name]
        graphql_type: Any = type_from_ast(self.graphql, definition.type)
        if definition.default_value is None:
            default: Any = Undefined
        else:
            default = value_from_ast_untyped(definition.default_value)
        required = isinstance(graphql_type, GraphQLNonNull) and default is Undefined
        return self.types.input(graphql_type, default), required

    def parameters(self, endpoint: Endpoint, operation: Operation) -> list[JsonSchema]:
        parameters: list[JsonSchema] = []
        path_names = _path_names(endpoint)
        for name in path_names:
            schema_of, _ = self.variable(operation, name)
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema_of})
        if endpoint.body is None:
            for name in operation.variables:
                if name in path_names:
                    continue
                schema_of, required = self.variable(operation, name)
                parameter = {"name": name, "in": "query", "required": required, "schema": schema_of}
                if "array" in str(schema_of.get("type")) or "anyOf" in schema_of:
                    parameter.update(style="form", explode=True)
                parameters.append(parameter)
        if endpoint.etag and "expectedVersion" in operation.variables:
            parameters.append(
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": True,
                    "description": "The agent's ETag as last read; a stale one is 409.",
                    "schema": {"type": "string", "pattern": r'^(W/)?"\d+"$'},
                }
            )
        return parameters

    def request_body(self, endpoint: Endpoint, operation: Operation) -> JsonSchema | None:
        if endpoint.body is None:
            return None
        if endpoint.body == FIELDS:
            skipped = {*_path_names(endpoint), "expectedVersion"}
            properties: dict[str, JsonSchema] = {}
            required: list[str] = []
            for name in operation.variables:
                if name in skipped:
                    continue
                properties[name], needed = self.variable(operation, name)
                if needed:
                    required.append(name)
            body, body_required = closed_object(properties, required), bool(required)
        else:
            body, body_required = self.variable(operation, endpoint.body)
        media: JsonSchema = {"schema": body}
        if endpoint.example is not None:
            media["example"] = endpoint.example
        return {"required": body_required, "content": {"application/json": media}}

    def success(self, endpoint: Endpoint, operation: Operation) -> tuple[str, JsonSchema]:
        if endpoint.status == 204:
            return "204", {"description": "Done; no content."}
        if endpoint.download:
            binary = {"schema": {"type": "string", "format": "binary"}}
            return "200", {
                "description": "The file, streamed as an attachment.",
                "headers": {"Content-Disposition": _header("attachment; filename=…")},
                "content": {media_type: binary for media_type in EXPORT_MEDIA_TYPES},
            }
        root_type = operation.definition.operation.value.capitalize()
        parent = self.graphql.get_type(root_type)
        assert isinstance(parent, GraphQLObjectType)
        field = parent.fields[operation.root.name.value]
        result = self.types.output(field.type, operation.root.selection_set, operation.fragments)
        name = _result_name(endpoint)
        self.types.components[name] = result
        headers: JsonSchema = {}
        if endpoint.etag:
            headers["ETag"] = _header("The agent's version, for If-Match.", required=True)
        if endpoint.status == 201:
            headers["Location"] = _header("The URL of what was created.", required=True)
        if endpoint.paginated:
            headers["Link"] = _header('rel="next": the next page, when there is one.')
        response: JsonSchema = {
            "description": field.description or endpoint.summary,
            "content": {"application/json": {"schema": {"$ref": REF_PREFIX + name}}},
        }
        if headers:
            response["headers"] = headers
        return str(endpoint.status), response

    def operation(self, endpoint: Endpoint) -> JsonSchema:
        operation = load_operations()[endpoint.operation]
        status, success = self.success(endpoint, operation)
        responses: JsonSchema = {status: success}
        for code in ERRORS:
            responses[code] = {"$ref": "#/components/responses/" + f"Error{code}"}
        if endpoint.body is not None:
            responses["415"] = {"$ref": "#/components/responses/Error415"}
        if endpoint.etag and "expectedVersion" in operation.variables:
            responses["428"] = {"$ref": "#/components/responses/Error428"}
        responses["default"] = {"$ref": "#/components/responses/ErrorDefault"}
        described: JsonSchema = {
            "operationId": endpoint.operation_id,
            "summary": endpoint.summary,
            "description": f"Runs the GraphQL operation `{operation.name}`:\n\n```graphql\n"
            f"{operation.text.strip()}\n```",
            "tags": [endpoint.tag],
            "parameters": self.parameters(endpoint, operation),
            "responses": responses,
            "security": [{}, {"bearerAuth": []}] if endpoint.public else [{"bearerAuth": []}],
        }
        body = self.request_body(endpoint, operation)
        if body is not None:
            described["requestBody"] = body
        if not described["parameters"]:
            del described["parameters"]
        return described


def _path_names(endpoint: Endpoint) -> list[str]:
    return [part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")]


def _error_responses() -> JsonSchema:
    responses = {f"Error{code}": _problem_response(text) for code, text in ERRORS.items()}
    responses["Error429"]["headers"] = {"Retry-After": _header("Seconds to wait.", True)}
    responses["Error415"] = _problem_response("The body is not JSON (Content-Type).")
    responses["Error428"] = _problem_response("If-Match is missing.")
    responses["ErrorDefault"] = _problem_response("Any other refusal, as a problem.")
    return responses


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document; deterministic, so the committed file can be compared with it."""
    generator = _Generator()
    paths: dict[str, JsonSchema] = {}
    for endpoint in ENDPOINTS:
        path = paths.setdefault(API_PREFIX + endpoint.path, {})
        path[endpoint.method.lower()] = generator.operation(endpoint)
    components = dict(sorted(generator.types.components.items()))
    components["Problem"] = PROBLEM
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Consciousness API",
            "version": API_VERSION,
            "description": "REST over the GraphQL API at /graphql: each endpoint runs one named "
            "GraphQL operation with the same authentication, limits and errors. Errors are "
            "RFC 9457 problems carrying the GraphQL error's `code` and `requestId`.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": _error_responses(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


@functools.cache  # served on every GET of the document: serialise it once
def export_openapi() -> str:
    """The document as committed in openapi.json: indented, keys in generation order."""
    return orjson.dumps(openapi_document(), option=orjson.OPT_INDENT_2).decode() + "\n"


async def openapi_endpoint(_request: Request) -> Response:
    """GET /api/v1/openapi.json."""
    return Response(export_openapi(), media_type="application/json")
