"""Engine worker processes, each spoken to over its own socket from the event loop.

concurrent.futures' ProcessPoolExecutor carries a call through two threads of the serving
process (its queue's feeder pickles and writes it; its manager reads the answer and wakes the
loop), each of which has to win the GIL from the event loop at every step. Here the loop
writes the call and reads the answer itself: nothing but the pickling and the socket's system
calls. One serving process on PostgreSQL + Redis with every input in its worker
(bench/process_load_bench.py --workers 1 --connections 50, five alternating runs each):
223 requests/s (median; 188-236) and 4.15 ms of serving CPU a request (3.93-4.92) against
186 (170-191) and 4.88 ms (4.73-5.42) through the executor. At 200 in flight, past what
one serving process can answer: 197-240 requests/s against 148-160. There the faster path
also exposed an unfair wait for the database pool (a few requests waited seconds while most
went straight through), which db/session.py now queues in turn.

A call is a frame (8-byte length, then a pickle of id, function, arguments) written to the
least busy worker's socket; the worker runs calls in order and writes back (id, ok, value).
A worker whose socket closes (it died: the OOM killer, a crash) fails every call it had with
WorkerGone and breaks its pool; the caller decides what to do (server/engine_processes.py
runs the call in a thread and starts a new pool on the next one). The socket also ends the
worker: when its server is gone, for any reason, the worker reads the end of the stream (or
fails to write its answer) and exits.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import pickle
import socket
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any, cast

HEADER = struct.Struct("!Q")  # the length of the pickle that follows
READY = 0  # the id of the frame a worker sends once its initializer has run


class WorkerGone(Exception):
    """The worker stopped (or its pool was closed) before answering the call."""


def _frame(message: object) -> bytes:
    """`message` pickled by multiprocessing's pickler (so the reducers registered with it
    apply: server/engine_pickling.py), behind its length."""
    data = ForkingPickler.dumps(message)
    return b"".join((HEADER.pack(len(data)), data))


def _read_exactly(sock: socket.socket, size: int) -> bytearray | None:
    """`size` bytes from the socket; None at the end of the stream (the server closed it)."""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        read = sock.recv_into(view[got:])
        if read == 0:
            return None
        got += read
    return buffer


def _answer(call_id: int, work: Callable[..., Any], args: Any, kwargs: Any) -> bytes:
    """The frame of `work(*args, **kwargs)`'s value or exception (with the worker's
    traceback as a note, as the exception's own traceback does not cross)."""
    try:
        return _frame((call_id, True, work(*args, **kwargs)))
    except Exception as exc:  # the caller's to see, as if the call had run in its process
        exc.add_note("in the engine worker:\n" + traceback.format_exc())
        failed: BaseException = exc
    try:
        return _frame((call_id, False, failed))
    except Exception as unpicklable:  # the caller still needs an answer
        return _frame((call_id, False, RuntimeError(f"{failed!r} ({unpicklable!r})")))


def serve(sock: socket.socket, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    """A worker process's life: initialize, say so, then answer calls in order until the
    server closes its end or can no longer be written to."""
    initializer(*initargs)
    try:
        sock.sendall(_frame((READY, True, None)))
        while (size := _read_exactly(sock, HEADER.size)) is not None:
            call = _read_exactly(sock, HEADER.unpack(size)[0])
            if call is None:
                return
            sock.sendall(_answer(*pickle.loads(call)))  # noqa: S301 - from our server
    except OSError:  # the server is gone (BrokenPipeError, ConnectionResetError)
        return


class _Link(asyncio.Protocol):
    """The serving side of one worker's socket: frames in, their calls' futures resolved."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            end = HEADER.size + HEADER.unpack_from(self._buffer)[0]
            if len(self._buffer) < end:
                return
            frame = self._buffer[HEADER.size : end]
            call_id, ok, value = pickle.loads(frame)  # noqa: S301 - from our own worker
            del self._buffer[:end]
            future = self.ready if call_id == READY else self.pending.pop(call_id, None)
            if future is None or future.done():
                continue  # its caller was cancelled
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def connection_lost(self, exc: Exception | None) -> None:
        gone = WorkerGone("the engine worker stopped before answering")
        for future in self.pending.values():
            if not future.done():
                future.set_exception(gone)
        self.pending.clear()
        if not self.ready.done():
            self.ready.set_exception(gone)
            self.ready.exception()  # marked retrieved: nobody need be waiting for it
        self._on_lost()


@dataclass
class _Worker:
    process: BaseProcess
    link: _Link


class WorkerPool:
    """`count` spawned workers, each initialized by `initializer(*initargs)`, on this loop.

    Spawned, not forked: the serving process has threads (the stores') whose locks a forked
    child would inherit held. Daemonic, so that a server leaving without `close()` does not
    wait at exit for workers that wait for it."""

    def __init__(
        self, count: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.broken = False
        self._ids = itertools.count(READY + 1)
        context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        connecting = []
        for _ in range(count):
            ours, theirs = socket.socketpair()
            process = context.Process(
                target=serve, args=(theirs, initializer, initargs), daemon=True
            )
            process.start()
            theirs.close()
            worker = _Worker(process, _Link(self._lost))
            self._workers.append(worker)
            connecting.append(self._connect(worker, ours))
        self._connected = asyncio.gather(*connecting)

    async def _connect(self, worker: _Worker, sock: socket.socket) -> None:
        sock.setblocking(False)
        transport, _ = await self.loop.connect_accepted_socket(lambda: worker.link, sock)
        if self.broken and not transport.is_closing():  # closed while this connected
            transport.close()

    def _lost(self) -> None:
        self.broken = True

    async def ready(self) -> None:
        """Once every worker has initialized; WorkerGone if one died doing it."""
        await self._connected
        await asyncio.gather(*(worker.link.ready for worker in self._workers))

    async def call(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`work(*args, **kwargs)` in the least busy worker (fewest calls in flight)."""
        if not self._connected.done():
            await self._connected
        if self.broken:
            raise WorkerGone("an engine worker stopped")
        link = min((worker.link for worker in self._workers), key=lambda link: len(link.pending))
        call_id = next(self._ids)
        future: asyncio.Future[Any] = self.loop.create_future()
        frame = _frame((call_id, work, args, kwargs))
        assert link.transport is not None
        link.pending[call_id] = future
        link.transport.write(frame)
        try:
            return await future
        finally:
            link.pending.pop(call_id, None)

    def pids(self) -> list[int | None]:
        return [worker.process.pid for worker in self._workers]

    def close(self) -> None:
        """Close every socket: each worker exits after the call it is running; calls still
        waiting get WorkerGone."""
        self.broken = True
        for worker in self._workers:
            if worker.link.transport is not None and not self.loop.is_closed():
                worker.link.transport.close()
            elif worker.process.is_alive():  # not connected, or its loop is gone (a test's)
                worker.process.terminate()
