"""The GraphQL schema: root types, and the one extension every operation runs through."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext

from schema.execution import Execution, use_lean_resolvers
from schema.extension_runner import extensions_runner
from schema.pipeline import OperationObserver, OperationPipeline
from schema.roots import (
    agents,
    alerts,
    analytics,
    api_keys,
    auth,
    consciousness,
    live,
    privacy,
    system,
)

Query = merge_types(
    "Query",
    (
        system.Query,
        auth.Query,
        agents.Query,
        consciousness.Query,
        analytics.Query,
        api_keys.Query,
        alerts.Query,
    ),
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
        api_keys.Mutation,
        alerts.Mutation,
    ),
)


class NoObserver:
    """Outside a server (tools, tests of the schema alone) nothing observes operations."""

    def extensions(self) -> list[SchemaExtension]:
        return []

    def observe(self, context: ExecutionContext, seconds: float) -> None:
        return None


class Schema(strawberry.Schema):
    observer: OperationObserver = NoObserver()
    """The transport's observer of operations; the server installs its own (observe_with)."""

    def observe_with(self, observer: OperationObserver) -> None:
        self.observer = observer

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client errors are not server faults; ErrorCodes logs the unexpected ones."""

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        """The observer's extensions (tracing, when on and sampled) around our one."""
        extra = self.observer.extensions()
        return [*extra, OperationPipeline()] if extra else [OperationPipeline()]

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """Our extension alone runs without strawberry's per-hook wrapping (extension_runner)."""
        return extensions_runner(execution_context, extensions)


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=live.Subscription,
    config=StrawberryConfig(auto_camel_case=True),
    execution_context_class=Execution,
)
use_lean_resolvers(schema)


def export_sdl() -> str:
    """The schema in SDL, as checked into schema.graphql."""
    return schema.as_str() + "\n"
