"""Chooses the contextual stage's gate (GATE_SIMILARITY) on our own training data only.

Run: python bench/ethics_gate.py

The gate sends a sentence to the encoder when its nearest harmful exemplar in the static
layer is at least GATE_SIMILARITY similar. For each candidate threshold this prints, on the
`tune` and `validation` rows of bench/data/ethics_dev.csv (never the holdout splits, never
SimpleSafetyTests): harmful rows caught, benign rows refused and flagged; and on ordinary
text (bench/data/ethics_ordinary.txt, bench/data/ethics_ordinary_gate.txt and the engine
bench's paragraphs): the share of sentences the gate sends to the encoder, which is what
ordinary requests pay for the stage. The rule for choosing is in docs/engine-guard.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine_bench import PARAGRAPHS  # noqa: E402
from ethics_data import ordinary_lines, training_rows  # noqa: E402

import engine.ethics.contextual as contextual  # noqa: E402
from db.guard_model import load_guard  # noqa: E402
from engine import EngineConfig, evaluate_ethics  # noqa: E402
from engine.text import split_segments  # noqa: E402

CANDIDATES = (0.30, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36, 0.38, 0.40, 0.45)


def ordinary_sentences() -> list[str]:
    """Everyday sentences, one per segment, from the two ordinary files and the bench text."""
    texts = [*PARAGRAPHS, *ordinary_lines(), *ordinary_lines("ethics_ordinary_gate.txt")]
    return [s.text for text in texts for s in split_segments(text)]


def main() -> None:
    rows = training_rows()
    guard = load_guard()
    config = EngineConfig()
    sentences = ordinary_sentences()
    _, nearest = guard.screen(sentences)
    harmful = [r["prompt"] for r in rows if r["category"] != "benign"]
    benign = [r["prompt"] for r in rows if r["category"] == "benign"]
    print(f"tune + validation: {len(harmful)} harmful, {len(benign)} benign;"
          f" ordinary sentences: {len(sentences)}\n")  # fmt: skip
    print("| gate | harmful caught | benign refused | benign flagged | ordinary sentences read |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for gate in CANDIDATES:
        contextual.GATE_SIMILARITY = gate
        decisions = [evaluate_ethics(p, config, guard).decision for p in harmful]
        benign_decisions = [evaluate_ethics(p, config, guard).decision for p in benign]
        read = sum(1 for similarity in nearest if similarity >= gate)
        print(
            f"| {gate:.3f} | {sum(d != 'ANSWERED' for d in decisions)}"
            f" | {benign_decisions.count('REFUSED')} | {benign_decisions.count('FLAGGED')}"
            f" | {read} ({100 * read / len(sentences):.1f} %) |"
        )


if __name__ == "__main__":
    main()
