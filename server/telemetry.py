"""The request's observability: what the middleware, the schema and the resolvers share.

server.middleware.TelemetryMiddleware puts the app's Telemetry and a fresh RequestRecord in
a context variable for each HTTP request and websocket. From there:
- the schema's observer (RequestObserver) adds the tracing extension when tracing is on
  and the request is sampled, and writes each operation's name, type, outcome and user into
  the record and the metrics;
- resolvers run the engine through the app's `run_engine` (Telemetry.run_engine), which
  traces it (a span for the call and one per stage, laid out from the stage durations the
  engine reports) and feeds the stage histogram; a long series of calls (OTLP ingestion)
  is spread over this process and its engine workers by `EngineLanes`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from engine import EngineResult
from resolvers.context import InTurn
from server.engine_processes import EngineProcesses, timed
from server.metrics import Metrics
from server.tracing import Tracing

P = ParamSpec("P")
R = TypeVar("R")
OK = "ok"  # the outcome of an operation without errors; else its first error's code
NO_CODE = "ERROR"  # the outcome when that error has no code
UNKNOWN_TYPE = "unknown"  # the type of an operation that did not parse or match
MAX_RECORDED_OPERATIONS = 20


@dataclass(frozen=True)
class OperationRecord:
    name: str | None
    kind: str  # query, mutation, subscription, or unknown (it did not parse)
    outcome: str  # "ok" or the first error's extensions.code
    seconds: float


@dataclass
class RequestRecord:
    """What the request's GraphQL operations did, for its log line.

    A websocket may run any number of operations: the first MAX_RECORDED_OPERATIONS are
    kept, the rest only counted.
    """

    operations: list[OperationRecord] = field(default_factory=list)
    operation_count: int = 0
    user_id: str | None = None
    outcome: str | None = None  # None: no operation ran; else the first failure, or "ok"

    def add(self, operation: OperationRecord) -> None:
        self.operation_count += 1
        if len(self.operations) < MAX_RECORDED_OPERATIONS:
            self.operations.append(operation)
        if self.outcome in (None, OK):
            self.outcome = operation.outcome


@dataclass(frozen=True)
class Telemetry:
    """The app's metrics (None when METRICS_ENABLED is false), tracing (None when off) and
    the worker processes that take long engine inputs (None: every input in a thread)."""

    metrics: Metrics | None
    tracing: Tracing | None
    engine_processes: EngineProcesses | None = None

    async def run_engine(self, work: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run an engine function in a worker thread (a long input: a worker process, see
        server/engine_processes.py), traced and timed when this app asks.

        With tracing on: a span `engine.<function>` around the call and, for `process`, one
        child span per stage, placed end to end from the call's start using the durations the
        engine measured (the engine itself does no I/O and knows nothing of tracing).
        """
        processes = self.engine_processes
        if processes is not None and processes.takes(args):
            call = processes.run(work, args, kwargs)
        else:
            call = asyncio.to_thread(timed, work, args, kwargs)
        if self.tracing is None or not trace.get_current_span().is_recording():
            _, result = await call
        else:
            tracer = self.tracing.tracer
            with tracer.start_as_current_span(f"engine.{work.__name__}"):
                started_ns, result = await call
                if isinstance(result, EngineResult):
                    offset = started_ns
                    for stage in result.reasoning_chain:
                        end = offset + int(stage.duration_ms * 1_000_000)
                        span = tracer.start_span(
                            f"engine.stage.{stage.stage}",
                            start_time=offset,
                            attributes={
                                "engine.stage": stage.stage,
                                "engine.consumed": stage.consumed,
                                "engine.produced": stage.produced,
                                "engine.duration_ms": stage.duration_ms,
                            },
                        )
                        span.end(end_time=end)
                        offset = end
        if self.metrics is not None and isinstance(result, EngineResult):
            self.metrics.observe_stages(
                (stage.stage, stage.duration_ms / 1000.0) for stage in result.reasoning_chain
            )
        return result


_current: ContextVar[tuple[Telemetry, RequestRecord] | None] = ContextVar(
    "consciousness_telemetry", default=None
)


def begin_request(telemetry: Telemetry) -> tuple[RequestRecord, Any]:
    """Start recording a request; returns its record and the token for `end_request`."""
    record = RequestRecord()
    return record, _current.set((telemetry, record))


def end_request(token: Any) -> None:
    _current.reset(token)


class RequestObserver:
    """The schema's observer (schema/pipeline.py) in a server: feeds the current request's
    record and the metrics, and adds the tracing extension to sampled requests."""

    def extensions(self) -> list[SchemaExtension]:
        current = _current.get()
        if current is None or current[0].tracing is None:
            return []
        tracing = current[0].tracing.extension()
        return [] if tracing is None else [tracing]

    def observe(self, context: ExecutionContext, seconds: float) -> None:
        current = _current.get()
        if current is None:
            return
        record = current[1]
        try:
            kind = context.operation_type.value
        except Exception:  # no document: it did not parse, or no operation matched
            kind = UNKNOWN_TYPE
        result = context.result
        errors = (result.errors if result is not None else None) or context.pre_execution_errors
        outcome = OK
        if errors:
            code = (errors[0].extensions or {}).get("code")
            outcome = code if isinstance(code, str) else NO_CODE
        principal = getattr(context.context, "current_principal", None)  # our Context only
        if principal is not None:
            record.user_id = principal.user_id
        record_operation(OperationRecord(context.operation_name, kind, outcome, seconds))


def record_operation(operation: OperationRecord) -> None:
    """Count an operation in the current request's record and the metrics; also one refused
    before it reached the schema (a persisted-query or long-document refusal)."""
    current = _current.get()
    if current is None:
        return
    telemetry, record = current
    record.add(operation)
    if telemetry.metrics is not None:
        telemetry.metrics.observe_operation(
            operation.name, operation.kind, operation.outcome, operation.seconds
        )


class EngineLanes:
    """This process's worker thread plus the engine worker processes, as the resolvers'
    EngineFanOut: a long series (OTLP ingestion's) takes every core the server has."""

    def __init__(self, processes: EngineProcesses) -> None:
        self._processes = processes

    @property
    def lanes(self) -> int:
        return 1 + self._processes.processes

    async def run(
        self, work: Callable[..., R], parts: Sequence[object], /, *args: object
    ) -> list[R]:
        """`work(part, *args)` for every part, results in the parts' order. Each lane (a
        worker thread of this process, each worker process) takes the next part whenever
        it finishes one, so a lane slowed by other work takes fewer: the thread shares this
        process's GIL with the event loop, and the workers run niced. Without workers, in
        turn in a thread."""
        if self._processes.processes == 0:
            return await InTurn().run(work, parts, *args)
        done: dict[int, R] = {}
        following = iter(range(len(parts)))  # shared: each lane takes the next index

        async def lane(in_worker: bool) -> None:
            for index in following:
                sent: tuple[object, ...] = (parts[index], *args)
                if in_worker:
                    _, done[index] = await self._processes.run(work, sent, {})
                else:
                    _, done[index] = await asyncio.to_thread(timed, work, sent, {})

        workers = (lane(in_worker=True) for _ in range(self._processes.processes))
        await asyncio.gather(lane(in_worker=False), *workers)
        return [done[index] for index in range(len(parts))]
