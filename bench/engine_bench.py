"""Benchmark of engine.process on 1 KB and 10 KB English inputs, against VADER alone.

Run: python bench/engine_bench.py [--rounds N] [--json PATH]

Prints a markdown table of median and p95 wall time per call, and the ratio of
process() to VADER's polarity_scores() on the same text, measured in the same
run (the baseline). VADER on one long string is quadratic in its word count,
so the table also shows VADER run sentence by sentence, as the engine does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import Figure, add_json_option, percentile, write_figures

from engine import EngineConfig, EngineRequest, process
from engine.lexicons import VADER
from engine.text import split_segments

TARGET_1KB_MS = 5.0  # the engine's budget per 1 KB input (issue 5)

# The short prompt the engine benches time: read by the contextual encoder (a homonym).
SHORT_PROMPT = "What's the quickest way to kill a hanging Docker container?"
PARAGRAPHS = (
    "I have been thinking about the migration plan for most of the week. The team worked"
    " hard on the first draft and I really appreciate the effort, but I am worried that we"
    " will miss the deadline again. Testing always gets squeezed at the end, and last time"
    " it turned into a small disaster.",
    "Could you help me structure the rollout? I would like to move the read traffic first,"
    " watch the error rates for a few days, and only then switch the writes. Maybe that is"
    " too cautious, I am honestly not sure.",
    "My manager thinks the old system is good enough. She is probably right about the cost,"
    " but the outages last winter were painful and customers noticed. People should not have"
    " to wait an hour for a simple refund.",
    "On the bright side, the new dashboards are wonderful. Everyone on the support desk said"
    " they can finally see what is happening, and the first feedback from customers has been"
    " surprisingly positive. If you need to reach me, write to jane.doe@example.com.",
)


def build_text(size: int) -> str:
    """Repeat the paragraphs until `size` characters, cut at the last sentence end."""
    text = ""
    index = 0
    while len(text) < size:
        text += PARAGRAPHS[index % len(PARAGRAPHS)] + "\n"
        index += 1
    cut = text[:size]
    return cut[: cut.rfind(".") + 1]


def measure(call: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median and p95 of `rounds` timed calls, in milliseconds (after 5 warm-up calls)."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    samples.sort()
    return statistics.median(samples), percentile(samples, 0.95)


Timing = tuple[float, float]


def measure_size(size: int, rounds: int) -> tuple[int, Timing, Timing, Timing]:
    """Characters, then (median, p95) of process(), VADER whole text, VADER per sentence."""
    config = EngineConfig()
    text = build_text(size)
    request = EngineRequest(text)
    segments = [segment.text for segment in split_segments(text)]
    engine = measure(lambda: process(request, None, config), rounds)
    vader = measure(lambda: VADER.polarity_scores(text), rounds)
    per_sentence = measure(lambda: [VADER.polarity_scores(x) for x in segments], rounds)
    return len(text), engine, vader, per_sentence


def figures(rows: list[tuple[str, int, Timing, Timing, Timing]]) -> list[Figure]:
    """process() median (target for 1 KB: < TARGET_1KB_MS) and p95, each against VADER run
    sentence by sentence on the same text (what the engine itself does)."""
    result = []
    for label, chars, engine, vader, per_sentence in rows:
        key, where = f"engine.{label.replace(' ', '').lower()}", f"{label} input ({chars} chars)"
        target = TARGET_1KB_MS if label == "1 KB" else None
        whole = f"VADER on the whole text: median {vader[0]:.2f} ms"
        result += [
            Figure(f"{key}.median_ms", "6. engine", f"process() median, {where}", engine[0],
                   "ms", "VADER per sentence, median", per_sentence[0], "<", target, whole),
            Figure(f"{key}.p95_ms", "6. engine", f"process() p95, {where}", engine[1], "ms",
                   "VADER per sentence, p95", per_sentence[1]),
        ]  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    add_json_option(parser)
    args = parser.parse_args()
    rows = []
    for label, size in (("1 KB", 1024), ("10 KB", 10240)):
        rounds = args.rounds if size <= 1024 else max(20, args.rounds // 5)
        rows.append((label, *measure_size(size, rounds)))
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, 1-minute load average at the end: {load:.2f}\n")
    print(
        "| input | chars | process() median ms | p95 ms | VADER whole-text median ms"
        " | ratio | VADER per-sentence median ms | ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, chars, engine, vader, per_sentence in rows:
        print(
            f"| {label} | {chars} | {engine[0]:.2f} | {engine[1]:.2f} | {vader[0]:.2f}"
            f" | {engine[0] / vader[0]:.2f}x | {per_sentence[0]:.2f}"
            f" | {engine[0] / per_sentence[0]:.2f}x |"
        )
    write_figures(args.json, figures(rows), load_average_end=load)


if __name__ == "__main__":
    main()
