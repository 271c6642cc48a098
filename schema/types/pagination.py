"""Relay-style connections: edges with opaque cursors, page info, total count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from resolvers.pagination import LazyCursor, Page

NodeType = TypeVar("NodeType")
Row = TypeVar("Row")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start: strawberry.Private[LazyCursor | None]
    end: strawberry.Private[LazyCursor | None]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return None if self.start is None else str(self.start)

    @strawberry.field
    def end_cursor(self) -> str | None:
        return None if self.end is None else str(self.end)


@strawberry.type
class Edge(Generic[NodeType]):
    node: NodeType
    lazy_cursor: strawberry.Private[LazyCursor]

    @strawberry.field
    def cursor(self) -> str:
        return str(self.lazy_cursor)


@strawberry.type
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]]
    page_info: PageInfo
    counted: strawberry.Private[int | None]  # None: the query does not select totalCount

    @strawberry.field(description="Rows matching the filter, on all pages.")
    def total_count(self) -> int:
        if self.counted is None:
            raise RuntimeError("totalCount is selected but was not counted")
        return self.counted


def connection(page: Page[Row], node_of: Callable[[Row], NodeType]) -> Connection[NodeType]:
    """The Relay connection of a page, each row made into its GraphQL node by `node_of`."""
    edges = [Edge(node=node_of(row), lazy_cursor=cursor) for cursor, row in page.edges]
    return Connection(edges=edges, page_info=page_info(page), counted=page.total_count)


def page_info(page: Page[Row]) -> PageInfo:
    """Where `page` sits, and the cursors of its first and last rows."""
    return PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start=page.edges[0][0] if page.edges else None,
        end=page.edges[-1][0] if page.edges else None,
    )
