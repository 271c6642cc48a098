"""The GraphQL schema: root types plus the extensions every operation runs through."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext

from resolvers.loaders import Loaders
from schema.limits import OperationLimits
from schema.masking import ErrorCodes
from schema.roots import agents, analytics, auth, consciousness, live, privacy, system

PARSER_CACHE_SIZE = 1024
VALIDATION_CACHE_SIZE = 1024

Query = merge_types(
    "Query", (system.Query, auth.Query, agents.Query, consciousness.Query, analytics.Query)
)
Mutation = merge_types(
    "Mutation",
    (
        auth.Mutation,
        agents.Mutation,
        consciousness.Mutation,
        analytics.Mutation,
        live.Mutation,
        privacy.Mutation,
    ),
)


class CachedParser(ParserCache):
    """ParserCache that lets a syntax error surface where the error-code mapping sees it.

    Strawberry's ParserCache raises syntax errors from inside its hook, outside the
    operation, so they would reach the client without `extensions.code`.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None  # strawberry parses again and reports it
        yield


class FreshLoaders(SchemaExtension):
    """Each operation on a websocket gets its own DataLoaders.

    An HTTP request's context, and its loaders, live for one operation; a websocket's
    context (`live` is set) lives as long as the socket, so without this a query sent
    later on it would read what an earlier one cached. Subscriptions also renew them per
    event (resolvers/live.py).
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "live", None) is not None:
            context.loaders = Loaders.create(context.stores)
        yield


OperationExtensions = Callable[[], list[SchemaExtension]]


def no_operation_extensions() -> list[SchemaExtension]:
    """Outside a server (tools, tests of the schema alone) no transport observes operations."""
    return []


class Schema(strawberry.Schema):
    operation_extensions: OperationExtensions
    """The transport's per-request extensions; the server installs its own (observe_with)."""

    def observe_with(self, operation_extensions: OperationExtensions) -> None:
        """Run `operation_extensions()`'s extensions around ours on every operation."""
        self.operation_extensions = operation_extensions

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client errors are not server faults; ErrorCodes logs the unexpected ones."""

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        """The transport's observability extensions around ours.

        They come first so they see each operation's final error codes; outside a request
        of an app there are none, and the tracing one only when tracing is on.
        """
        return [*self.operation_extensions(), *super().get_extensions(sync)]


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=live.Subscription,
    extensions=[
        OperationLimits,  # before ErrorCodes: it restates the token-limit error after it
        lambda: CachedParser(maxsize=PARSER_CACHE_SIZE),
        lambda: ValidationCache(maxsize=VALIDATION_CACHE_SIZE),
        ErrorCodes,
        FreshLoaders,
    ],
    config=StrawberryConfig(auto_camel_case=True),
)
schema.observe_with(no_operation_extensions)


def export_sdl() -> str:
    """The schema in SDL, as checked into schema.graphql."""
    return schema.as_str() + "\n"
