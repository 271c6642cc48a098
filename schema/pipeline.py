"""The one schema extension every operation runs through: limits, caches, error codes, loaders.

Strawberry wraps each extension's hooks in context managers on every operation, so five
small extensions cost more than the work they do (`make profile OP=typename`). This one
calls each concern's plain functions in a fixed order instead:
- operation: the server's limits for the parser and validator; afterwards errors get their
  codes (schema/masking.py), the token-limit error is restated as our limit, and the
  schema's observer (the server's telemetry) sees the final outcome;
- parse and validate, inside the operation hook before strawberry's own steps (which skip
  a document already parsed and a verdict already reached; as hooks of their own they cost
  two more context managers per operation than the work they do): through process-wide
  LRU caches keyed on the query text, the token limit and the validation rules, for
  documents up to CACHED_QUERY_CHARS long (schema/limits.py makes those rule classes once
  per set of limits, so a cached verdict stays specific to them);
- execute: the refusals of schema/limits.py (size, allow-list, cost, budget); on a
  websocket, whose context outlives one operation, fresh DataLoaders; where the caller's
  token is used from (resolvers/anomalies.py); a kept result for an introspection-only
  operation (schema/introspection_cache.py); and the caller's time limit around a query
  or mutation (schema/time_limit.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.execution import ExecutionContext
from strawberry.types.graphql import OperationType

from core.clock import SYSTEM_CLOCK
from resolvers import anomalies
from resolvers.loaders import Loaders
from schema.cost import CACHED_DOCUMENTS, CACHED_QUERY_CHARS
from schema.introspection_cache import IntrospectionResults
from schema.limits import (
    Limits,
    caller,
    limit_rules,
    limits_of,
    name_token_limit,
    refusal,
    time_limit,
)
from schema.masking import ErrorCodes
from schema.time_limit import time_limited

# Longer documents than CACHED_QUERY_CHARS are parsed and validated each time, never kept:
# at MAX_QUERY_BYTES (100 KB) each, a client sending new ones (a comment is enough) would
# have filled the caches with 100 MB; at 8,000 characters they hold at most 8 MB of text.
_cached_parse: functools._lru_cache_wrapper[DocumentNode] = functools.lru_cache(CACHED_DOCUMENTS)(
    parse
)
OptionItems = tuple[tuple[str, Any], ...]


@functools.lru_cache(CACHED_DOCUMENTS)
def _cached_validation(
    schema: GraphQLSchema, query: str, options: OptionItems, rules: tuple[type[Any], ...]
) -> list[GraphQLError]:
    """The verdict on a query text, keyed on the text rather than its document: hashing a
    document walks every node (a dataclass hash each), which cost more than the rest of a
    request for `{ me { id } }`."""
    return validate_document(schema, _cached_parse(query, **dict(options)), rules)


introspection_results = IntrospectionResults(max_query_chars=CACHED_QUERY_CHARS)


class OperationObserver(Protocol):
    """What a transport watches operations with: extra extensions, and each final outcome."""

    def extensions(self) -> list[SchemaExtension]:
        """Extensions to run outside ours for this operation (tracing), often none."""

    def observe(self, context: ExecutionContext, seconds: float) -> None:
        """One operation ended with these (final, coded) errors after `seconds`."""


def _parse_and_validate(context: ExecutionContext) -> None:
    """The document and its verdict, for strawberry to find already made (cached up to
    CACHED_QUERY_CHARS)."""
    query, options = context.query, context.parse_options
    if context.graphql_document is not None or not query:
        return
    cached = len(query) <= CACHED_QUERY_CHARS
    try:
        document = _cached_parse(query, **options) if cached else parse(query, **options)
    except GraphQLError:
        # Raised here, before the operation's error handling, a syntax error would reach
        # the client without a code: strawberry parses again and reports it where we code it.
        return
    context.graphql_document = document
    schema, rules = context.schema._schema, context.validation_rules
    context.pre_execution_errors = (
        _cached_validation(schema, query, tuple(options.items()), rules)
        if cached
        else validate_document(schema, document, rules)
    )


class OperationPipeline(ErrorCodes):
    """Our one extension (see the module docstring); ErrorCodes masks as MaskErrors does."""

    _limits: Limits

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        context = self.execution_context
        limits = self._limits = limits_of(context.context)
        context.parse_options["max_tokens"] = limits.max_tokens
        context.validation_rules = context.validation_rules + limit_rules(
            limits.max_depth, limits.max_aliases, limits.max_introspections, limits.introspection
        )
        _parse_and_validate(context)
        yield from super().on_operation()  # codes and masks the errors
        result = context.result
        if result is not None and result.errors:
            result.errors = [name_token_limit(error, limits) for error in result.errors]
        observer: OperationObserver | None = getattr(context.schema, "observer", None)
        if observer is not None:
            observer.observe(context, time.perf_counter() - started)

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        refused = await refusal(context, self._limits)
        if refused is not None:
            if context.operation_type is OperationType.SUBSCRIPTION:
                raise refused  # strawberry reports on_execute errors of subscriptions
            error = GraphQLError(refused.message, original_error=refused)
            context.result = GraphQLExecutionResult(data=None, errors=[error])
        request_context = context.context
        if getattr(request_context, "live", None) is not None:
            # A websocket's context lives as long as the socket: without new loaders, a
            # query sent later on it would read what an earlier one cached.
            request_context.loaders = Loaders.create(request_context.stores)
        app = getattr(request_context, "app", None)
        principal = await caller(request_context) if refused is None else None
        if principal is not None and app is not None:
            await anomalies.after_authentication(request_context, principal)
        if refused is not None or context.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        kept = introspection_results.key(context)
        served = introspection_results.get(kept) if kept is not None else None
        if served is not None:
            context.result = served  # nothing executes
            yield
            return
        seconds, setting = time_limit(self._limits, principal)
        with time_limited(app.clock if app is not None else SYSTEM_CLOCK, seconds, setting):
            yield
        if kept is not None:
            introspection_results.keep(kept, context.result)
