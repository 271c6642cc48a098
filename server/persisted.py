"""Persisted operations: Apollo's APQ protocol, and an optional allow-list of operations.

APQ (https://www.apollographql.com/docs/apollo-server/performance/apq): a client sends
`extensions.persistedQuery = {version: 1, sha256Hash}` over POST or GET.

- hash only, known: the stored document runs;
- hash only, unknown: the error `PersistedQueryNotFound` with
  `extensions.code = PERSISTED_QUERY_NOT_FOUND` (HTTP 200), which tells Apollo clients to
  send the hash again with the query text;
- hash and text: the text's sha256 must equal the hash (else BAD_USER_INPUT, nothing
  stored); the document runs, and is stored (db/persisted_queries.py) when the caller is
  signed in: anonymous clients cannot grow the server's memory with documents.

With PERSISTED_OPERATIONS_ONLY the server runs only the operations of the allow-list
(PERSISTED_OPERATIONS_FILE: a JSON object of sha256 hex → document, read once at start):
by hash, or as text whose sha256 is listed; any other text is refused with
BAD_USER_INPUT before it is parsed, and APQ registration is off. Websocket operations are
checked by schema/limits.py, which calls `is_allowed` too.

Every document is at most MAX_QUERY_BYTES, checked here before anything is parsed or stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from graphql import GraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from core.settings import Settings
from db.allow_list import SHA256_HEX, is_allowed, load_allow_list, sha256_hex
from db.persisted_queries import PersistedQueryStore

APQ_VERSION: Final = 1
PERSISTED_QUERY_NOT_FOUND: Final = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED: Final = "PERSISTED_QUERY_NOT_SUPPORTED"
BAD_USER_INPUT: Final = "BAD_USER_INPUT"


class PersistedQueryRefused(Exception):
    """The request cannot run: `code` and `message` go to the client as a GraphQL error."""

    def __init__(self, code: str, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions = extensions

    def result(self, request_id: str) -> ExecutionResult:
        extensions: dict[str, Any] = {"code": self.code, **self.extensions}
        if request_id:
            extensions["requestId"] = request_id
        return ExecutionResult(
            data=None, errors=[GraphQLError(self.message, extensions=extensions)]
        )


def _check_size(settings: Settings, query: str) -> None:
    size = len(query.encode())
    if size > settings.max_query_bytes:
        raise PersistedQueryRefused(
            BAD_USER_INPUT,
            f"the query is {size} bytes; at most {settings.max_query_bytes} are allowed "
            "(MAX_QUERY_BYTES)",
            limit="MAX_QUERY_BYTES",
            maximum=settings.max_query_bytes,
            actual=size,
        )


def _requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The sha256 of `extensions.persistedQuery`, None when the request has none."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != APQ_VERSION:
        raise PersistedQueryRefused(
            BAD_USER_INPUT,
            f"extensions.persistedQuery must be {{version: {APQ_VERSION}, sha256Hash}}",
            field="extensions.persistedQuery",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.match(digest.lower()):
        raise PersistedQueryRefused(
            BAD_USER_INPUT,
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
            field="extensions.persistedQuery.sha256Hash",
        )
    return digest.lower()


def _not_registered() -> PersistedQueryRefused:
    return PersistedQueryRefused(
        BAD_USER_INPUT,
        "this server runs only registered operations; this one is not registered "
        "(PERSISTED_OPERATIONS_ONLY)",
        limit="PERSISTED_OPERATIONS_ONLY",
    )


async def resolve_request(
    settings: Settings,
    store: PersistedQueryStore,
    request: GraphQLRequestData,
    signed_in: Callable[[], Awaitable[bool]],
) -> GraphQLRequestData:
    """The request with its document filled in from APQ or the allow-list.

    A document sent with its hash is stored only when `signed_in()` (the caller's token
    is valid): anyone may run it, but an anonymous client cannot fill the server's memory.
    Raises PersistedQueryRefused when it must not run (see the module docstring).
    """
    query = request.query
    if query is not None:
        _check_size(settings, query)
    digest = _requested_hash(request.extensions)
    if query is not None and digest is not None and sha256_hex(query) != digest:
        raise PersistedQueryRefused(
            BAD_USER_INPUT,
            "provided sha does not match query",
            field="extensions.persistedQuery.sha256Hash",
        )
    if settings.persisted_operations_only and settings.persisted_operations_file is not None:
        allow_list = load_allow_list(settings.persisted_operations_file)
        if query is not None:
            if not is_allowed(allow_list, query):
                raise _not_registered()
            return request
        if digest is None:
            return request  # no document at all: strawberry says so
        document = allow_list.get(digest)
        if document is None:
            raise PersistedQueryRefused(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
        return dataclasses.replace(request, query=document)
    if digest is None:
        return request
    if not settings.persisted_queries_enabled:
        raise PersistedQueryRefused(PERSISTED_QUERY_NOT_SUPPORTED, "PersistedQueryNotSupported")
    if query is not None:
        if await signed_in():
            await store.put(digest, query)
        return request
    document = await store.get(digest)
    if document is None:
        raise PersistedQueryRefused(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
    return dataclasses.replace(request, query=document)
