"""The fan-out floor: a bare Starlette websocket relaying one Redis pub/sub channel.

One Redis subscription for the whole process (as our broker holds one per topic); every
message is turned once into a graphql-transport-ws `next` frame shaped like our
`agentEvents` result and put on each connected socket's bounded queue, which that socket's
sender task drains. No GraphQL, no authentication, no per-subscriber execution.

Environment: FANOUT_REDIS_URL, FANOUT_CHANNEL (the broker's channel of the topic, carrying
"<sequence>:<json payload>" as db/pubsub.py publishes it), FANOUT_FIELD (default agentEvents).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

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


async def _relay(redis: Redis) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            frame = _frame(message["data"])
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
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    redis = Redis.from_url(REDIS_URL)
    task = asyncio.create_task(_relay(redis))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await redis.aclose()


app = Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)
