"""The fan-out floor: a bare Starlette websocket relaying one Redis pub/sub channel.

One Redis subscription for the whole process (as our broker holds one per topic); every
message is turned once into a graphql-transport-ws `next` frame shaped like our
`agentEvents` result and put on each connected socket's bounded queue, which that socket's
sender task drains. No GraphQL, no authentication, no per-subscriber execution.

`floor` is the same relay with nothing between it and uvicorn: a raw ASGI app whose Redis
loop awaits uvicorn's own `send` for every socket in turn, with no framework, no task and no
queue per socket (a slow socket would hold up the others, so it is a measuring stick, not a
server). What it costs per frame is what any Python ASGI app on uvicorn pays at least.

Environment: FANOUT_REDIS_URL, FANOUT_CHANNEL (the broker's channel of the topic, carrying
"<sequence>:<json payload>" as db/pubsub.py publishes it), FANOUT_FIELD (default agentEvents).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

QUEUE_SIZE = 256  # as db/pubsub.SUBSCRIBER_QUEUE_SIZE
REDIS_URL = os.environ.get("FANOUT_REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL = os.environ.get("FANOUT_CHANNEL", "fanout")
FIELD = os.environ.get("FANOUT_FIELD", "agentEvents")

sockets: set[asyncio.Queue[bytes]] = set()


def _frame(data: bytes) -> bytes:
    sequence, _, payload = data.partition(b":")
    event = {"sequence": int(sequence), **orjson.loads(payload)}
    return orjson.dumps({"id": "1", "type": "next", "payload": {"data": {FIELD: event}}})


async def _relay(redis: Redis, deliver: Callable[[bytes], Awaitable[None]]) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        async for message in pubsub.listen():
            if message["type"] == "message":
                await deliver(_frame(message["data"]))


async def _enqueue(frame: bytes) -> None:
    for queue in sockets:
        if queue.full():  # drop the oldest, as our broker does
            queue.get_nowait()
        queue.put_nowait(frame)


async def _send(websocket: WebSocket, queue: asyncio.Queue[bytes]) -> None:
    while True:
        await websocket.send_bytes(await queue.get())


async def endpoint(websocket: WebSocket) -> None:
    """Drain this socket's queue in a task; this coroutine reads until the client leaves."""
    await websocket.accept()
    queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
    sockets.add(queue)
    sender = asyncio.create_task(_send(websocket, queue))
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        sockets.discard(queue)
        sender.cancel()
        with contextlib.suppress(
            asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError
        ):
            await sender


@contextlib.asynccontextmanager
async def _relaying(deliver: Callable[[bytes], Awaitable[None]]) -> AsyncIterator[None]:
    redis = Redis.from_url(REDIS_URL)
    task = asyncio.create_task(_relay(redis, deliver))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await redis.aclose()


app = Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lambda _app: _relaying(_enqueue))

Send = Callable[[dict[str, Any]], Awaitable[None]]
floor_sends: set[Send] = set()


async def _send_each(frame: bytes) -> None:
    message = {"type": "websocket.send", "bytes": frame}
    for send in list(floor_sends):
        try:
            await send(message)
        except (OSError, RuntimeError):  # gone: its own coroutine sees the disconnect
            floor_sends.discard(send)


async def floor(scope: dict[str, Any], receive: Any, send: Send) -> None:
    """The raw ASGI relay (see the module's docstring); any HTTP request gets a 404."""
    if scope["type"] == "lifespan":
        await receive()  # startup
        async with _relaying(_send_each):
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        floor_sends.add(send)
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            floor_sends.discard(send)
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
