"""Log records leave the event loop through a bounded queue; a thread formats and writes them.

A write to stderr can block (a full pipe, a slow journal or container log driver), and on
the event loop that would stall every request in flight; formatting and writing also cost
the loop thread most of a log line's 60 to 140 microseconds, on every request at INFO. This is the
logging cookbook's QueueHandler and listener, with two changes: the queue is bounded, so a
writer that cannot keep up drops records and counts them (`dropped`, exported on /metrics)
instead of growing without end; and the writer drains whatever waits and writes it with
one `write` and one `flush`.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from logging.handlers import QueueHandler
from typing import TextIO

LOG_QUEUE_RECORDS = 10_000  # records waiting for the writer; past this they are dropped
_STOP = logging.makeLogRecord({"msg": "stop"})


class BoundedQueueHandler(QueueHandler):
    """Hands records to the writer thread; drops them when its queue is full."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The message merged now (its arguments may change later); nothing else is
        copied or formatted here: the record stays in this process, so unlike the
        stdlib's it keeps `exc_info` for the formatter."""
        record.msg, record.args = record.getMessage(), None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class LogWriter:
    """A daemon thread that formats queued records and writes them to `stream` in batches."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        self.records: queue.Queue[logging.LogRecord] = queue.Queue(LOG_QUEUE_RECORDS)
        self.handler = BoundedQueueHandler(self.records)
        self._stream = stream
        self._formatter = formatter
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self.records.get()]
            while len(batch) < LOG_QUEUE_RECORDS:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            stopping = any(record is _STOP for record in batch)
            lines = [self._format(record) for record in batch if record is not _STOP]
            if lines:
                self._write("\n".join(lines) + "\n")

    def _format(self, record: logging.LogRecord) -> str:
        try:
            return self._formatter.format(record)
        except Exception as exc:  # one bad record must not stop the writer
            return f"log record from {record.name} could not be formatted: {exc!r}"

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: nothing left to tell
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then end the thread (at exit, or when logging is
        reconfigured)."""
        atexit.unregister(self.stop)
        if self._thread.is_alive():
            self.records.put(_STOP)
            self._thread.join(timeout)
