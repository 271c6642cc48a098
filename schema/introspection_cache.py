"""Results of introspection-only operations, kept: they depend on the schema alone.

GraphiQL, code generators and the attacker of issue 18 send the same introspection query
again and again; executing it walks the whole schema on the event loop (about 25 ms for one
`__schema` tree here). An operation whose root fields are all `__schema`, `__type` or
`__typename` answers the same for everyone while the process lives, so its result is kept,
keyed by the document, the operation name and the variables, and served without executing.
Only short documents (CACHED_QUERY_CHARS, as the parse cache) and results without errors
are kept, at most MAX_KEPT of them, least recently used out. Its cost is still counted
first (schema/cost.py): a kept result is cheap to serve, not free to ask for.
"""

from __future__ import annotations

from typing import Final

import orjson
from graphql import ExecutionResult, FieldNode
from graphql.utilities import get_operation_ast
from strawberry.types.execution import ExecutionContext

from core.lru import LRU
from schema.cost import CACHED_QUERY_CHARS

ROOT_INTROSPECTION_FIELDS: Final = frozenset({"__schema", "__type", "__typename"})
MAX_KEPT: Final = 8  # full introspection results are a few MB of Python objects each

Key = tuple[str, str | None, bytes]


class IntrospectionResults:
    """The kept results (see the module docstring), and how often one was served."""

    def __init__(self, max_kept: int = MAX_KEPT, max_query_chars: int = CACHED_QUERY_CHARS) -> None:
        self._kept: LRU[Key, ExecutionResult] = LRU(max_kept)
        self._max_query_chars = max_query_chars
        self.hits = 0

    def key(self, context: ExecutionContext) -> Key | None:
        """The key of this operation when it is introspection only and short; else None."""
        query, document = context.query or "", context.graphql_document
        if document is None or len(query) > self._max_query_chars:
            return None
        operation = get_operation_ast(document, context.operation_name)
        if operation is None or not all(
            isinstance(selection, FieldNode) and selection.name.value in ROOT_INTROSPECTION_FIELDS
            for selection in operation.selection_set.selections
        ):
            return None
        try:
            variables = orjson.dumps(context.variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a value orjson cannot write: not worth keeping
            return None
        return query, context.operation_name, variables

    def get(self, key: Key) -> ExecutionResult | None:
        result = self._kept.get(key)
        if result is not None:
            self.hits += 1
        return result

    def keep(self, key: Key, result: object) -> None:
        """Keep `result` when it is a plain result without errors."""
        if not isinstance(result, ExecutionResult) or result.errors:
            return
        self._kept.put(key, result)
