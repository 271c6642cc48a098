"""The floor: the cheapest JSON endpoint Starlette serves, reading the same POST body as GraphQL."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"data": {"hello": "world"}})


app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])])
