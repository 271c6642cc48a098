"""The log writer thread: logging never waits on the stream, drops past its bound, batches."""

from __future__ import annotations

import io
import logging
import threading
import uuid
from collections.abc import Iterator

import orjson
import pytest

from server.log_queue import LOG_QUEUE_RECORDS, LogWriter
from server.observability import JsonFormatter, TextFormatter
from tests.support import wait_until


class BlockedStream(io.StringIO):
    """A stream whose writes wait until `release()`; it records each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.entered = threading.Event()
        self._open = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self._open.wait()
        self.writes.append(text)
        return super().write(text)

    def release(self) -> None:
        self._open.set()


@pytest.fixture
def stream() -> Iterator[BlockedStream]:
    blocked = BlockedStream()
    yield blocked
    blocked.release()


def _logger_to(writer: LogWriter) -> logging.Logger:
    logger = logging.getLogger(f"test.log_queue.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(writer.handler)
    return logger


def _lines(stream: BlockedStream) -> list[str]:
    return stream.getvalue().splitlines()


async def test_logging_returns_while_the_stream_blocks_and_everything_arrives_later(
    stream: BlockedStream,
) -> None:
    writer = LogWriter(stream, TextFormatter())
    logger = _logger_to(writer)
    logger.info("first")
    assert stream.entered.wait(5)  # the writer thread is stuck in write()
    for n in range(100):
        logger.info("line %d", n)  # would hang here if logging wrote on this thread
    assert _lines(stream) == []
    stream.release()
    await wait_until(lambda: len(_lines(stream)) == 101, "every line written")
    assert _lines(stream)[-1].endswith("line 99")
    assert len(stream.writes) <= 3  # the 100 waiting lines went out in one or two writes
    writer.stop()


async def test_a_writer_that_cannot_keep_up_drops_and_counts(stream: BlockedStream) -> None:
    writer = LogWriter(stream, TextFormatter())
    logger = _logger_to(writer)
    logger.info("blocks the writer")
    assert stream.entered.wait(5)
    extra = 25
    for n in range(LOG_QUEUE_RECORDS + extra):
        logger.info("flood %d", n)
    assert writer.handler.dropped == extra
    stream.release()
    await wait_until(
        lambda: len(_lines(stream)) == 1 + LOG_QUEUE_RECORDS, "the queued lines written"
    )
    writer.stop()


def test_exceptions_keep_their_traceback_in_json() -> None:
    out = io.StringIO()
    writer = LogWriter(out, JsonFormatter())
    logger = _logger_to(writer)
    try:
        raise ValueError("the cause")
    except ValueError:
        logger.exception("it failed for %s", "a reason")
    writer.stop()  # writes what is queued
    (entry,) = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert entry["message"] == "it failed for a reason"
    assert "ValueError: the cause" in entry["exception"]


def test_stop_writes_what_is_queued_and_ends_the_thread() -> None:
    out = io.StringIO()
    writer = LogWriter(out, TextFormatter())
    logger = _logger_to(writer)
    for n in range(50):
        logger.info("queued %d", n)
    writer.stop()
    assert len(out.getvalue().splitlines()) == 50
