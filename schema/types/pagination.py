"""Relay-style connections: edges with opaque cursors, page info, total count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from resolvers.pagination import Page

NodeType = TypeVar("NodeType")
Row = TypeVar("Row")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeType]):
    node: NodeType
    cursor: str


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
    edges = [Edge(node=node_of(row), cursor=cursor) for cursor, row in page.edges]
    return Connection(edges=edges, page_info=page_info(page), counted=page.total_count)


def page_info(page: Page[Row]) -> PageInfo:
    """Where `page` sits, and the cursors of its first and last rows."""
    cursors = [cursor for cursor, _ in page.edges]
    return PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
