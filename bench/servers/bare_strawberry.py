"""A one-field strawberry schema served by `strawberry.asgi.GraphQL`, without and with caches.

`app` is strawberry out of the box; `app_cached` adds the ParserCache and ValidationCache
extensions (as factories, one instance per operation) and orjson encoding, as our app does.
"""

from __future__ import annotations

import orjson
import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

CACHE_SIZE = 1024


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


class OrjsonGraphQL(GraphQL[None, None]):
    """strawberry's ASGI view encoding and decoding JSON with orjson."""

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


app = GraphQL[None, None](strawberry.Schema(query=Query), graphql_ide=None)
app_cached = OrjsonGraphQL(
    strawberry.Schema(
        query=Query,
        extensions=[
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
        ],
    ),
    graphql_ide=None,
)
