"""Whether the contextual stage still reads a request placed among ordinary sentences.

Run: python bench/ethics_positions.py [--seed N]

The stage reads only some of the sentences that pass its gate (engine.ethics.contextual
`select`), so where a request sits in a long text decides whether the model sees it. This
takes the `tune` and `validation` prompts of bench/data/ethics_dev.csv that the contextual
model flags on their own (never the holdout splits, never SimpleSafetyTests), puts each at
the start, in the middle and at the end of n ordinary sentences drawn from
bench/data/ethics_ordinary.txt (a third of them pass the gate), and counts the prompts that
still get a `CTX-` finding on their own sentence. docs/engine-guard.md has the table.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ethics_data import ordinary_lines, training_rows  # noqa: E402

from db.guard_model import load_guard  # noqa: E402
from engine import EngineConfig, SemanticGuard, evaluate_ethics  # noqa: E402

SIZES = (8, 20, 40)
POSITIONS = ("start", "middle", "end")


def read_at(text: str, start: int, guard: SemanticGuard) -> bool:
    """Whether the text gets a contextual finding on the sentence that begins at `start`."""
    result = evaluate_ethics(text, EngineConfig(), guard)
    return any(v.rule_id.startswith("CTX-") and v.start == start for v in result.violations)


def placed(prompt: str, ordinary: list[str], position: str) -> tuple[str, int]:
    """`prompt` among the `ordinary` sentences; the text and where the prompt begins."""
    cut = {"start": 0, "middle": len(ordinary) // 2, "end": len(ordinary)}[position]
    before = " ".join(ordinary[:cut])
    start = len(before) + 1 if before else 0
    return " ".join([*ordinary[:cut], prompt, *ordinary[cut:]]), start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    guard = load_guard()
    prompts = [r["prompt"] for r in training_rows() if r["label"] == "unsafe"]
    flagged = [p for p in prompts if read_at(p, 0, guard)]
    ordinary = ordinary_lines()
    rng = random.Random(args.seed)
    print(f"{len(flagged)} of {len(prompts)} harmful tune and validation prompts get a CTX- "
          "finding alone; of them, still read among n ordinary sentences:\n")  # fmt: skip
    print("| n ordinary sentences | " + " | ".join(POSITIONS) + " |")
    print("| ---: |" + " ---: |" * len(POSITIONS))
    for size in SIZES:
        counts = dict.fromkeys(POSITIONS, 0)
        for prompt in flagged:
            around = rng.sample(ordinary, size)
            for position in POSITIONS:
                text, start = placed(prompt, around, position)
                counts[position] += read_at(text, start, guard)
        print(f"| {size} | " + " | ".join(str(counts[p]) for p in POSITIONS) + " |")


if __name__ == "__main__":
    main()
