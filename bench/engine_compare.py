"""Speed of this tree's engine against a commit's, measured back to back in the same run.

Run: flock /tmp/bench.lock python bench/engine_compare.py [--base REV] [--rounds N] [--runs K]

Each engine runs in its own child process (the base's exported with `git archive`, as
bench/engine_golden.py does, with its own guard loader), K times each, alternating base and
this tree so that a change of load on a shared machine falls on both. A child times
`process()` on bench/engine_bench.py's 1 KB and 10 KB texts and bench/ethics_bench.py's short
prompt with the guard the server loads, with its static layer only and without a guard, and
VADER per sentence (the baseline), after 5 warm-up calls: median and p95 of N rounds (N/5 at
10 KB) of wall time, and the median of the calling thread's CPU time (what a call costs one
core, less sensitive to the other processes of a shared machine than wall time). The table
gives each run's figures and the ratio of the medians over the runs;
bench/engine_golden.py checks that the results are equal. Prints the 1-minute load average
at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import SHORT_PROMPT, build_text
from engine_golden import ROOT, exported_engine

_DRIVER = r"""
import json, statistics, sys, time
from engine import EngineConfig, EngineRequest, process
from engine.ethics.semantic import SemanticGuard
from engine.lexicons import VADER
from engine.text import split_segments
from db.guard_model import load_guard

def measure(call, rounds):
    for _ in range(5):
        call()
    wall, cpu = [], []
    for _ in range(rounds):
        started, used = time.perf_counter(), time.thread_time()
        call()
        cpu.append((time.thread_time() - used) * 1000.0)
        wall.append((time.perf_counter() - started) * 1000.0)
    wall.sort()
    return [statistics.median(wall), wall[min(len(wall) - 1, int(0.95 * len(wall)))],
            statistics.median(cpu)]

full = load_guard()
static = SemanticGuard(full.embedder, full.exemplars, full.threshold, full.margin)
config = EngineConfig()
spec = json.load(sys.stdin)
out = {}
for label, text, rounds in spec:
    request = EngineRequest(text)
    segments = [s.text for s in split_segments(text)]
    out[label] = {
        "full": measure(lambda: process(request, None, config, guard=full), rounds),
        "static": measure(lambda: process(request, None, config, guard=static), rounds),
        "rules": measure(lambda: process(request, None, config), rounds),
        "vader": measure(lambda: [VADER.polarity_scores(x) for x in segments], rounds),
    }
print(json.dumps(out))
"""
KINDS = (("full", "+ static + contextual"), ("static", "+ static only"), ("rules", "rules only"))


def child(folder: Path, spec: list[tuple[str, str, int]]) -> dict[str, dict[str, list[float]]]:
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER], cwd=folder, input=json.dumps(spec),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, dict[str, list[float]]] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    spec = [("1 KB", build_text(1024), args.rounds),
            ("10 KB", build_text(10240), max(20, args.rounds // 5)),
            ("short prompt", SHORT_PROMPT, args.rounds)]  # fmt: skip
    load_start = os.getloadavg()[0]
    runs: dict[str, list[dict[str, dict[str, list[float]]]]] = {"base": [], "tree": []}
    with exported_engine(args.base) as folder:
        for _ in range(args.runs):
            runs["base"].append(child(folder, spec))
            runs["tree"].append(child(ROOT, spec))
    load_end = os.getloadavg()[0]
    print(f"base {args.base} vs this tree, {args.runs} alternating run(s) each; cores "
          f"{os.cpu_count()}, 1-minute load {load_start:.2f} at start, "
          f"{load_end:.2f} at end\n")  # fmt: skip
    print(
        "| input | process() | base median ms (per run) | p95 | tree median ms (per run) "
        "| p95 | tree / base | CPU median ms, base | tree | tree / base | VADER per sentence |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, _, _ in spec:
        vader = [r[label]["vader"][0] for side in runs.values() for r in side]
        for kind, name in KINDS:
            base = [r[label][kind] for r in runs["base"]]
            tree = [r[label][kind] for r in runs["tree"]]
            wall = statistics.median(t[0] for t in tree) / statistics.median(b[0] for b in base)
            cpu_base = statistics.median(b[2] for b in base)
            cpu_tree = statistics.median(t[2] for t in tree)
            print(
                f"| {label} | {name} | {' / '.join(f'{b[0]:.2f}' for b in base)} "
                f"| {' / '.join(f'{b[1]:.2f}' for b in base)} "
                f"| {' / '.join(f'{t[0]:.2f}' for t in tree)} "
                f"| {' / '.join(f'{t[1]:.2f}' for t in tree)} | {wall:.2f}x "
                f"| {cpu_base:.2f} | {cpu_tree:.2f} | {cpu_tree / cpu_base:.2f}x "
                f"| {statistics.median(vader):.2f} |"
            )


if __name__ == "__main__":
    main()
