"""The one place that maps our errors to GraphQL `extensions.code` and masks the rest."""

from __future__ import annotations

import logging
from typing import Any

from graphql import VariableDefinitionNode
from graphql.error import GraphQLError, GraphQLSyntaxError
from opentelemetry import trace
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from core.errors import INTERNAL_MESSAGE, ApiError, ErrorCode

log = logging.getLogger(__name__)


def _classify(error: GraphQLError) -> tuple[ErrorCode, str, dict[str, Any]] | None:
    """The code, public message and extensions of an error, or None when it must be masked."""
    original = error.original_error
    if isinstance(original, ApiError):
        return original.code, original.message, dict(original.extensions)
    if isinstance(original, InvalidOperationTypeError):
        kind = original.operation_type.value
        return ErrorCode.BAD_USER_INPUT, f"{kind} operations are not allowed on this transport", {}
    if isinstance(original, CannotGetOperationTypeError):
        return ErrorCode.BAD_USER_INPUT, original.as_http_error_reason(), {}
    if isinstance(original, MissingQueryError):
        return ErrorCode.BAD_USER_INPUT, str(original), {}
    if original is None or isinstance(original, GraphQLSyntaxError):
        # Parse, validation and variable-coercion errors: the client's request is at fault.
        return ErrorCode.BAD_USER_INPUT, error.message, _variable_field(error)
    if isinstance(original, GraphQLError) and original.original_error is None:
        return ErrorCode.BAD_USER_INPUT, original.message, _variable_field(error)
    return None


def _variable_field(error: GraphQLError) -> dict[str, Any]:
    """`field`: the variable a coercion error is about (its message may not name it, so the
    value sent is never echoed)."""
    node = error.nodes[0] if error.nodes else None
    if isinstance(node, VariableDefinitionNode):
        return {"field": node.variable.name.value}
    return {}


class ErrorCodes(MaskErrors):
    """Give every error an `extensions.code`; replace unexpected ones by a masked INTERNAL error.

    Unexpected errors are logged with their traceback and the request id, which the masked
    error carries too, so an operator can find the log line a client reports.
    """

    def _process_result(self, result: object) -> None:
        """As MaskErrors', without its runtime-checked Protocol (costly on every operation)."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._process_error(error) for error in errors]

    def _process_error(self, error: GraphQLError) -> GraphQLError:
        request_id = self._request_id()
        classified = _classify(error)
        if classified is None:
            log.error(
                "unexpected error in %s (request %s)",
                ".".join(str(p) for p in error.path or ()),
                request_id,
                exc_info=error.original_error,
            )
            code, message, extensions = ErrorCode.INTERNAL, INTERNAL_MESSAGE, dict[str, Any]()
        else:
            code, message, extensions = classified
        if request_id:
            extensions["requestId"] = request_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:  # tracing is on: the trace to look up in the backend
            extensions["traceId"] = format(span_context.trace_id, "032x")
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            # Our own errors stay attached (their messages are public anyway): a transport
            # that speaks HTTP statuses (server/rest) tells a store that is down from a fault.
            original_error=error.original_error if classified is not None else None,
            extensions={"code": code.value, **extensions},
        )

    def _request_id(self) -> str | None:
        context = self.execution_context.context
        return getattr(context, "request_id", None)
