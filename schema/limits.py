"""Abuse limits every operation passes before it runs: size, tokens, depth, aliases, cost.

schema/pipeline.py applies them:
- tokens: graphql-core's parser stops after MAX_QUERY_TOKENS tokens (a parse option, so
  the parser cache keys on it);
- depth, aliases and introspection fields (`__schema`, `__type`): a validation rule
  (`limit_rules`) whose classes are made once per distinct set of limits, so the
  validation cache keys on them too and a cached verdict can never let an over-limit
  document through;
- introspection: graphql-core's NoSchemaIntrospectionCustomRule when INTROSPECTION_ENABLED
  is false (`__typename` stays allowed);
- text and nesting of every value (schema/input_checks.py): in variables before execution,
  in the document as a validation rule;
- size, the allow-list (over websockets; HTTP refuses earlier, in server/persisted.py),
  cost (schema/cost.py) and the hourly cost budget: checked when execution is about to
  start, with the request's variables. A refused query or mutation never executes: its
  result is set to the error, which strawberry then returns instead of executing.

Every refusal is `BAD_USER_INPUT` naming the limit (`extensions.limit` is the setting's
environment variable, with `maximum` and `actual`), except the hourly budget:
`RATE_LIMITED` with `retryAfter`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from limits import RateLimitItemPerHour
from strawberry.types.execution import ExecutionContext

from auth.permissions import Principal
from auth.ratelimit import COST_NAMESPACE, cost_budgets
from core.enums import Tier
from core.errors import BadUserInput, ErrorCode, RateLimited, ServiceUnavailable, Unauthenticated
from core.settings import Settings
from db.allow_list import is_allowed, load_allow_list
from schema.cost import operation_cost
from schema.input_checks import InputLiteralsRule, variables_refusal

log = logging.getLogger(__name__)

TOKEN_LIMIT_MESSAGE: Final = "Document contains more than"  # noqa: S105  (parser message)
MAX_CACHED_LIMITS: Final = 64
INTROSPECTION_FIELDS: Final = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Limits:
    """The limits of one server, from its settings."""

    max_bytes: int
    max_tokens: int
    max_depth: int
    max_aliases: int
    max_introspections: int
    max_cost: int
    introspection: bool
    time_limit: float  # seconds a signed-in caller's operation may run; 0: no limit
    time_limit_anonymous: float
    budgets: Mapping[Tier | None, int]  # per hour; None: anonymous (per client IP); 0: none

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_bytes=settings.max_query_bytes,
            max_tokens=settings.max_query_tokens,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_introspections=settings.max_query_introspections,
            max_cost=settings.max_query_cost,
            introspection=settings.introspection_enabled,
            time_limit=settings.operation_time_limit_seconds,
            time_limit_anonymous=settings.operation_time_limit_anonymous_seconds,
            budgets=cost_budgets(settings),
        )


@functools.cache
def _default_limits() -> Limits:
    """The defaults of Settings, for a schema executed without our context (tools, tests)."""
    return Limits.from_settings(Settings.model_construct())


def over_limit(message: str, limit: str, maximum: int, actual: int) -> BadUserInput:
    """The error of an operation over one limit; `limit` is the setting's env var."""
    return BadUserInput(message, limit=limit, maximum=maximum, actual=actual)


# --- depth and aliases: one validation rule ------------------------------------------


@dataclass
class _Measure:
    depth: int = 0
    aliases: int = 0
    introspections: int = 0  # __schema and __type fields


class _Measurer:
    """Depth and alias count of selection sets, each fragment measured once (memoised)."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self._memo: dict[str, _Measure] = {}
        self._visiting: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None) -> _Measure:
        result = _Measure()
        if selection_set is None:
            return result
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    result.aliases += 1
                if selection.name.value in INTROSPECTION_FIELDS:
                    result.introspections += 1
                if selection.name.value.startswith("__"):
                    continue  # introspection is bounded by the schema, like strawberry's limiter
                inner = self.selection_set(selection.selection_set)
                result.depth = max(result.depth, 1 + inner.depth)
                result.aliases += inner.aliases
            else:
                if isinstance(selection, InlineFragmentNode):
                    inner = self.selection_set(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    inner = self.fragment(selection.name.value)
                else:  # pragma: no cover - graphql-core has no other selection kinds
                    continue
                result.depth = max(result.depth, inner.depth)
                result.aliases += inner.aliases
                result.introspections += inner.introspections
        return result

    def fragment(self, name: str) -> _Measure:
        if name in self._memo:
            return self._memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._visiting:  # unknown or cyclic: validation says
            return _Measure()
        self._visiting.add(name)
        measure = self.selection_set(definition.selection_set)
        self._visiting.discard(name)
        self._memo[name] = measure
        return measure


@functools.cache
def limit_rules(
    max_depth: int, max_aliases: int, max_introspections: int, introspection: bool
) -> tuple[type[Any], ...]:
    """The validation rules for these limits: the same classes for the same limits, always.

    Strawberry's validation cache keys on the rule classes, so making them once per set of
    limits keeps that cache effective, and keeps its verdicts specific to these limits.
    """

    class OperationLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            measurer = _Measurer(
                {
                    definition.name.value: definition
                    for definition in document.definitions
                    if isinstance(definition, FragmentDefinitionNode)
                }
            )
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                measure = measurer.selection_set(definition.selection_set)
                name = f"operation '{definition.name.value}'" if definition.name else "operation"
                if measure.depth > max_depth:
                    self._report(
                        over_limit(
                            f"the {name} is {measure.depth} levels deep; at most {max_depth} "
                            "are allowed (MAX_QUERY_DEPTH)",
                            "MAX_QUERY_DEPTH",
                            max_depth,
                            measure.depth,
                        ),
                        definition,
                    )
                if measure.aliases > max_aliases:
                    self._report(
                        over_limit(
                            f"the {name} uses {measure.aliases} aliases; at most {max_aliases} "
                            "are allowed (MAX_QUERY_ALIASES)",
                            "MAX_QUERY_ALIASES",
                            max_aliases,
                            measure.aliases,
                        ),
                        definition,
                    )
                if measure.introspections > max_introspections:
                    self._report(
                        over_limit(
                            f"the {name} asks for {measure.introspections} introspections "
                            f"(__schema, __type); at most {max_introspections} are allowed "
                            "(MAX_QUERY_INTROSPECTIONS)",
                            "MAX_QUERY_INTROSPECTIONS",
                            max_introspections,
                            measure.introspections,
                        ),
                        definition,
                    )

        def _report(self, error: BadUserInput, node: OperationDefinitionNode) -> None:
            self.report_error(GraphQLError(error.message, node, original_error=error))

    rules: tuple[type[Any], ...] = (OperationLimitsRule, InputLiteralsRule)
    if not introspection:
        rules += (NoSchemaIntrospectionCustomRule,)
    return rules


# --- the checks before execution -----------------------------------------------------

_limits_by_settings: dict[int, tuple[Settings, Limits]] = {}


def limits_of(request_context: object) -> Limits:
    """The limits of the server whose context this is (made once per Settings object)."""
    settings = getattr(request_context, "settings", None)
    if not isinstance(settings, Settings):
        return _default_limits()
    cached = _limits_by_settings.get(id(settings))
    if cached is None or cached[0] is not settings:
        if len(_limits_by_settings) >= MAX_CACHED_LIMITS:
            _limits_by_settings.clear()  # many apps in one process (tests): start afresh
        cached = _limits_by_settings[id(settings)] = (settings, Limits.from_settings(settings))
    return cached[1]


async def refusal(context: ExecutionContext, limits: Limits) -> BadUserInput | RateLimited | None:
    """Why this operation must not execute (size, values, allow-list, cost, budget), or None."""
    if (bad_value := variables_refusal(context.variables)) is not None:
        return bad_value
    query = context.query or ""
    size = len(query.encode())
    if size > limits.max_bytes:
        return over_limit(
            f"the query is {size} bytes; at most {limits.max_bytes} are allowed (MAX_QUERY_BYTES)",
            "MAX_QUERY_BYTES",
            limits.max_bytes,
            size,
        )
    settings = getattr(context.context, "settings", None)
    if (
        isinstance(settings, Settings)
        and settings.persisted_operations_only
        and settings.persisted_operations_file is not None
        and not getattr(context.context, "server_document", False)
        and not is_allowed(load_allow_list(settings.persisted_operations_file), query)
    ):
        return BadUserInput(
            "this server runs only registered operations; this one is not registered "
            "(PERSISTED_OPERATIONS_ONLY)",
            limit="PERSISTED_OPERATIONS_ONLY",
        )
    assert context.graphql_document is not None
    cost = operation_cost(
        context.schema._schema, context.graphql_document, context.operation_name, context.variables
    )
    if cost > limits.max_cost:
        return over_limit(
            f"the operation costs {cost}; at most {limits.max_cost} is allowed per request "
            "(MAX_QUERY_COST); ask for smaller pages (first/limit)",
            "MAX_QUERY_COST",
            limits.max_cost,
            cost,
        )
    return await _spend(context.context, limits, cost)


async def caller(request_context: Any) -> Principal | None:
    """The verified caller of this operation; None when anonymous or the token is bad."""
    try:
        principal: Principal | None = await request_context.principal()
    except Unauthenticated:
        return None  # a bad token is refused by the fields that need one
    return principal


def time_limit(limits: Limits, principal: Principal | None) -> tuple[float, str]:
    """The seconds an operation of this caller may run, and the setting that says so."""
    if principal is None:
        return limits.time_limit_anonymous, "OPERATION_TIME_LIMIT_ANONYMOUS_SECONDS"
    return limits.time_limit, "OPERATION_TIME_LIMIT_SECONDS"


async def _spend(request_context: Any, limits: Limits, cost: int) -> RateLimited | None:
    """Count `cost` against the caller's hourly budget (their tier's, or their IP's)."""
    app = getattr(request_context, "app", None)
    if app is None or cost <= 0:
        return None
    principal = await caller(request_context)
    tier = principal.tier if principal is not None else None
    budget = limits.budgets[tier]
    if budget == 0:
        return None
    key = principal.user_id if principal is not None else f"ip:{request_context.client_ip}"
    try:
        decision = await app.rate_limiter.spend(
            COST_NAMESPACE, key, RateLimitItemPerHour(budget), cost
        )
    except ServiceUnavailable:
        # Fail open: with the rate limiter's Redis down the budget cannot be counted, and
        # refusing everything (systemHealth too) would turn a Redis outage into a total
        # one. The per-request maximum still applies; the tier limits fail closed.
        log.warning("query cost budget not counted: the rate limiter is unavailable")
        return None
    if decision.allowed:
        return None
    who = f"the {tier.value} tier" if tier is not None else "anonymous clients"
    return RateLimited(
        f"query cost budget spent: {who} may spend {budget} per hour and this operation "
        f"costs {cost} (QUERY_COST_BUDGET_{(tier.value if tier else 'anonymous').upper()})",
        retry_after=decision.retry_after_seconds,
        limit=f"QUERY_COST_BUDGET_{(tier.value if tier else 'anonymous').upper()}",
        cost=cost,
    )


def name_token_limit(error: GraphQLError, limits: Limits) -> GraphQLError:
    """Restate graphql-core's "Document contains more than N tokens" as our limit error."""
    if TOKEN_LIMIT_MESSAGE not in error.message:
        return error
    message = (
        f"the document has more than {limits.max_tokens} tokens; at most "
        f"{limits.max_tokens} are allowed (MAX_QUERY_TOKENS)"
    )
    extensions: dict[str, Any] = dict(error.extensions or {})
    extensions.update(
        code=ErrorCode.BAD_USER_INPUT.value, limit="MAX_QUERY_TOKENS", maximum=limits.max_tokens
    )
    return GraphQLError(
        message, source=error.source, positions=error.positions, extensions=extensions
    )
