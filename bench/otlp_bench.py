"""OTLP ingestion: GenAI spans/s analysed end to end on one worker, against decoding alone.

Starts `consciousness serve` (embedded stores, one process: its ingestion worker is the one
worker), makes the ENTERPRISE benchmark user and an ingestion key, then POSTs REQUESTS
protobuf ExportTraceServiceRequests of SPANS_PER_REQUEST GenAI chat spans each (made by
the OpenTelemetry SDK and encoded by its own encoder; 200-character input and output
messages) to /v1/traces, CONCURRENCY at a time, and waits until every span is a stored
session. End to end = spans / (first POST until the last session is stored): decoding,
queueing, the engine's input side and response check, redaction and the stores.
Baseline, in the same run and process-free: decoding the same payloads alone (protobuf →
ReceivedSpan → ObservedCall). Also in the same run, the engine alone on one core on
ENGINE_SPANS of the same calls (input side and response check, semantic guard on, one
agent's state carried from call to call); the server splits a claim's long series between
its thread and its engine worker process (resolvers/consciousness.py), so end to end may
pass it.
Target: ≥ 1,000 spans/s end to end. Run from the repo root:
`.venv/bin/python bench/otlp_bench.py [--requests N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
from figures import Figure, add_json_option, write_figures
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from process_bench import server
from stack import gql, sign_in

from engine import EngineConfig, EngineRequest, FixedResponder, process
from resolvers.observed_calls import observed_call
from server.otlp_codec import PROTOBUF, decode_request, received_spans

SPANS_PER_REQUEST = 100
CONCURRENCY = 4
MESSAGE_CHARS = 200
TARGET_SPANS_PER_SECOND = 1000.0
DECODE_ROUNDS = 5
ENGINE_SPANS = 500
AGENT = "otlp-bench-agent"
CREATE_KEY = 'mutation { createApiKey(name: "bench") { key } }'
SESSIONS = """query($a: UUID!) { consciousnessSessions(agentId: $a, first: 1) { totalCount } }"""
AGENTS = "{ agents(first: 5) { edges { node { id name } } } }"
SENTENCES = [
    "Please plan a quiet weekend by the sea with long walks and good food. ",
    "I am worried the release will slip again; can you help me list the risks? ",
    "Summarise the trade-offs of keyset pagination against offsets for big tables. ",
    "Write a short, friendly reminder for the team about Friday's retrospective. ",
]


def _message(index: int) -> str:
    text = "".join(SENTENCES[(index + k) % len(SENTENCES)] for k in range(4))
    return text[:MESSAGE_CHARS]


def payloads(requests: int) -> list[bytes]:
    """REQUESTS encoded export requests of SPANS_PER_REQUEST GenAI chat spans each."""
    bodies = []
    for request in range(requests):
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": AGENT}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("otlp-bench")
        for span in range(SPANS_PER_REQUEST):
            index = request * SPANS_PER_REQUEST + span
            prompt, answer = _message(index), _message(index + 1)
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 50,
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"'
                + prompt
                + '"}]}]',
                "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text",'
                '"content":"' + answer + '"}]}]',
            }
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
                pass
        provider.shutdown()
        bodies.append(encode_spans(memory.get_finished_spans()).SerializeToString())
    return bodies


def decode_rate(bodies: list[bytes]) -> float:
    """Spans/s of decoding alone: protobuf → ReceivedSpan → ObservedCall, best of rounds."""
    best = 0.0
    for _ in range(DECODE_ROUNDS):
        started = time.perf_counter()
        spans = 0
        for body in bodies:
            for span in received_spans(decode_request(body, PROTOBUF)):
                observed_call(span, 20_000)
                spans += 1
        best = max(best, spans / (time.perf_counter() - started))
    return best


def engine_rate(bodies: list[bytes]) -> float:
    """Spans/s of the engine alone on the first ENGINE_SPANS calls, as the worker runs it."""
    from db.guard_model import load_guard

    guard, config = load_guard(), EngineConfig()
    calls = [
        observed_call(span, 20_000)
        for body in bodies
        for span in received_spans(decode_request(body, PROTOBUF))
    ][:ENGINE_SPANS]
    warm = calls[0]  # the first call loads the engine's lexicons and models
    process(EngineRequest(warm.input_text), None, config, FixedResponder(warm.output_text))
    state = None
    started = time.perf_counter()
    for call in calls:
        request = EngineRequest(call.input_text)
        responder = FixedResponder(call.output_text)
        state = process(request, state, config, responder, guard=guard).state
    return len(calls) / (time.perf_counter() - started)


async def ingest(base: str, key: str, token: str, bodies: list[bytes]) -> tuple[float, float]:
    """(spans/s acknowledged, spans/s stored as sessions), both from the first POST."""
    total = len(bodies) * SPANS_PER_REQUEST
    headers = {"content-type": PROTOBUF, "x-api-key": key}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            for _ in range(100):  # a 429 (queue full) is retried after its Retry-After
                answer = await client.post("/v1/traces", content=body)
                if answer.status_code != 429:
                    break
                await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
            answer.raise_for_status()

    async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(CONCURRENCY)))
        acknowledged = time.perf_counter() - started
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=auth) as client:
        agents = (await client.post("/graphql", json={"query": AGENTS})).json()["data"]
        (agent_id,) = [e["node"]["id"] for e in agents["agents"]["edges"]
                       if e["node"]["name"] == AGENT]  # fmt: skip
        while True:
            body = {"query": SESSIONS, "variables": {"a": agent_id}}
            found = (await client.post("/graphql", json=body)).json()["data"]
            if found["consciousnessSessions"]["totalCount"] >= total:
                break
            await asyncio.sleep(0.05)
        stored = time.perf_counter() - started
    return total / acknowledged, total / stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    add_json_option(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the server is stopped
    bodies = payloads(args.requests)
    decoded = decode_rate(bodies)
    analysed = engine_rate(bodies)
    with tempfile.TemporaryDirectory(prefix="otlp-bench-") as tmp, server(Path(tmp)) as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            token = sign_in(client)
            key = gql(client, CREATE_KEY)["createApiKey"]["key"]
        acked, stored = asyncio.run(ingest(base, key, token, bodies))
    spans = args.requests * SPANS_PER_REQUEST
    print(f"\n{spans} GenAI spans ({MESSAGE_CHARS}-char messages), {SPANS_PER_REQUEST} per "
          f"request, {CONCURRENCY} requests in flight, one server process\n")  # fmt: skip
    print("| measured | spans/s | / decoding alone |")
    print("| --- | ---: | ---: |")
    print(f"| decoding alone (baseline) | {decoded:,.0f} | 1.00 |")
    print(f"| acknowledged (queued) | {acked:,.0f} | {acked / decoded:.3f} |")
    print(f"| end to end (sessions stored) | {stored:,.0f} | {stored / decoded:.3f} |")
    print(f"| engine alone, same calls, one core | {analysed:,.0f} | {analysed / decoded:.3f} |")
    print(f"\nend to end is {stored / analysed:.2f}x the engine alone")
    verdict = "meets" if stored >= TARGET_SPANS_PER_SECOND else "MISSES"
    print(f"\nend to end {stored:,.0f} spans/s {verdict} the {TARGET_SPANS_PER_SECOND:,.0f} target")
    scenario = "extra: OTLP ingestion"
    write_figures(args.json, [
        Figure("otlp.acked_sps", scenario, "/v1/traces spans acknowledged (queued) per second",
               acked, "spans/s", "decoding alone", decoded),
        Figure("otlp.stored_sps", scenario, "GenAI spans stored as sessions per second, one "
               "process, engine included", stored, "spans/s", "decoding alone", decoded,
               target_op="≥", target_value=TARGET_SPANS_PER_SECOND,
               note=f"{spans} spans, {MESSAGE_CHARS}-char messages"),
        Figure("otlp.engine_sps", scenario, "the engine alone on the same calls (input and "
               "response check, guard on), one core", analysed, "spans/s",
               "decoding alone", decoded, note=f"{ENGINE_SPANS} calls, one thread"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
