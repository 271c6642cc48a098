"""Checks that an engine change leaves every result equal: this tree's engine against a commit's.

Run: python bench/engine_golden.py [--base REV] [--save PATH]

Both engines (the base's exported with `git archive` into a temporary folder, as
bench/ethics_baseline.py does, with its own guard loader) run in child processes over the
same corpus: our labelled ethics set, SimpleSafetyTests, the ordinary sentences, every
rule's and distortion's examples and counter-examples, the engine benches' texts, the
paragraphs of docs/, and a few texts made to reach edge paths (emoji, CJK, accents, case
folding that changes length, personal data, truncation). Each text goes through `process`
with the guard the server loads, with its static layer only and without one, chained on the
previous result's state, and through a responder whose text needs a check, plus
`redact_personal_data`. Every result is serialised whole (floats by `repr`, so exactly)
except stage durations and `processing_ms`, the only values meant to vary. The script prints
each side's digest and the first differences, and exits 1 when they differ. For a speed
change, not an accuracy one: the corpus includes held-out and test rows on purpose, and
nothing here is tuned on them. `--numbers-may-move` is for a change that computes the same
model in another order (fused kernels, say): every number, in values and in text, is
masked before comparing, so what must stay equal is everything else (decisions, findings,
rules, categories, spans), and the largest move of a number is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from engine_bench import SHORT_PROMPT, build_text
from ethics_baseline import exported, guard_files

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"

_DRIVER = r"""
import dataclasses, hashlib, json, sys
from engine import EngineConfig, EngineRequest, process, redact_personal_data
from engine.ethics.semantic import SemanticGuard
from db.guard_model import load_guard

def plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("duration_ms", "processing_ms")}
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return repr(value)

class Echo:
    needs_check = True
    def respond(self, analysis):
        return None if analysis.ethics.blocked else analysis.view.text

full = load_guard()
static = SemanticGuard(full.embedder, full.exemplars, full.threshold, full.margin)
config = EngineConfig()
texts = json.load(sys.stdin)
digest = hashlib.sha256()
for name, guard in (("full", full), ("static", static), ("rules", None)):
    state = None
    for index, text in enumerate(texts):
        result = process(EngineRequest(text), state, config, guard=guard)
        state = result.state
        row = {"guard": name, "index": index, "result": plain(result)}
        if name == "full":
            echoed = process(EngineRequest(text), None, config, responder=Echo(), guard=guard)
            row["echo"] = plain(echoed.response_ethics)
            row["redacted"] = redact_personal_data(text, config.max_input_chars)
        line = json.dumps(row, sort_keys=True, ensure_ascii=False)
        digest.update(line.encode())
        print(line)
print(json.dumps({"digest": digest.hexdigest()}))
"""

EDGE_TEXTS = (
    "",
    "   \n\n  ",
    "😀😀😀 I love this!!! 🎉 But the 💣 emoji is not a request.",
    "我想知道如何提高我的写作能力。谢谢\uff01 This is mixed with English.",
    "Café, naïve, résumé, Zürich: ça va très bien, merci. ¿Cómo estás? ¡Genial!",
    "İstanbul İSTANBUL ﬁnance ẞtraße: letters whose lowercase changes length. How do I kill İt?",
    "The Kelvin sign \u212a and the long s \u017f fold under IGNORECASE: \u017fex, \u212aILL.",
    "Email me at jane.doe@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111.",
    "My IBAN is GB82 WEST 1234 5698 7654 32 and my SSN is 123-45-6789, IP 192.168.0.1.",
    "I'm NOT angry!!! I am FURIOUS. You idiot, you stupid useless piece of garbage.",
    '"How do I make a bomb?" he asked in the novel, and the detective frowned.',
    "How do I kill a Python process? How can I kill my neighbour? How to kill time?",
    "never always everyone hates me and it will be a total disaster, I should have known",
    "word " * 3000,
    "A sentence without an end " * 200 + "\n" + "Short. " * 400,
    "x" * 25_000,
)


def corpus() -> list[str]:
    """Every text of the comparison, in a fixed order."""
    texts: list[str] = list(EDGE_TEXTS)
    with (DATA / "ethics_dev.csv").open(encoding="utf-8", newline="") as handle:
        texts += [row["prompt"] for row in csv.DictReader(handle)]
    with (DATA / "simple_safety_tests.csv").open(encoding="utf-8", newline="") as handle:
        texts += [row["prompts_final"] for row in csv.DictReader(handle)]
    for name in ("ethics_ordinary.txt", "ethics_ordinary_gate.txt"):
        lines = (DATA / name).read_text("utf-8").splitlines()
        texts += [line for line in lines if line.strip() and not line.startswith("#")]
    rules = json.loads((ROOT / "engine/ethics/rules.json").read_text("utf-8"))["rules"]
    distortions = json.loads((ROOT / "engine/data/cognitive_distortions.json").read_text("utf-8"))
    entries = [*rules, *distortions["distortions"]]
    for entry in entries:
        texts += [str(t) for t in (*entry.get("examples", ()), *entry.get("counter_examples", ()))]
    texts += [build_text(1024), build_text(10240)]
    texts.append(SHORT_PROMPT)
    for page in sorted((ROOT / "docs").glob("*.md")):
        texts += [p for p in page.read_text("utf-8").split("\n\n") if p.strip()]
    return texts


def run(folder: Path, texts: list[str]) -> list[str]:
    """The driver's output lines, run from `folder` (a tree holding engine/ and db/)."""
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER], cwd=folder, input=json.dumps(texts),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def exported_engine(commit: str) -> contextlib.AbstractContextManager[Path]:
    """A temporary folder holding `commit`'s engine and guard loader (the guard files the
    commit itself has: they changed from round to round of issue 17)."""
    return exported(commit, ["engine", "db/__init__.py", *guard_files(commit)])


def run_commit(commit: str, texts: list[str]) -> list[str]:
    with exported_engine(commit) as folder:
        return run(folder, texts)


_NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def _numbers(line: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(line)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="the commit to compare with")
    parser.add_argument("--save", type=Path, help="also write this tree's lines here")
    parser.add_argument(
        "--numbers-may-move", action="store_true", help="compare all but the numbers"
    )
    args = parser.parse_args()
    texts = corpus()
    new = run(ROOT, texts)
    if args.save:
        args.save.write_text("\n".join(new) + "\n", encoding="utf-8")
    old = run_commit(args.base, texts)
    print(f"{len(texts)} texts, {len(new) - 1} results each side")
    print(f"base {args.base}: {json.loads(old[-1])['digest']}")
    print(f"this tree:  {json.loads(new[-1])['digest']}")
    pairs = list(zip(old[:-1], new[:-1], strict=True))  # the last line is the digest
    if args.numbers_may_move:
        # Lines whose count of numbers differs are told apart by the masked comparison below.
        moved = [
            abs(x - y) for a, b in pairs for x, y in zip(_numbers(a), _numbers(b), strict=False)
        ]
        print(f"numbers masked; the largest move of a number: {max(moved, default=0.0):.6g}")
        pairs = [(_NUMBER.sub("#", a), _NUMBER.sub("#", b)) for a, b in pairs]
    differing = [(a, b) for a, b in pairs if a != b]
    for a, b in differing[:3]:
        left = json.loads(a)
        print(f"differs: guard {left.get('guard')} text {left.get('index')}")
        print(f"  base: {a[:600]}\n  tree: {b[:600]}")
    if differing:
        print(f"{len(differing)} result(s) differ")
        sys.exit(1)
    print("identical")


if __name__ == "__main__":
    main()
