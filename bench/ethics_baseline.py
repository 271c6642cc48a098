"""Earlier engines' ethics verdicts, for the ethics bench's same-run baselines.

An earlier commit's engine is exported with `git archive` into a temporary folder (no
checkout, no worktree) and run in a child process on the same prompts; it prints one JSON
object per prompt: decision and categories. Three commits are used: BASELINE_COMMIT, the last
before the intent-and-target rules and the semantic layer (rules only, as it shipped), and
BRANCH_POINT_COMMIT, the engine before the recall work of issue 17's second round, run with
its own semantic layer (its db/guard_model.py and exemplars); and ROUND4_BASE_COMMIT, the
engine as shipped before the fourth round, with its static and contextual layers. Run from
the repo root.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "9219bd024b06d998bdcebeb51c9fed3205611d03"
BRANCH_POINT_COMMIT = "36f464ec5db97477babec2b9c45935fc7952c5c7"
# The engine as shipped before issue 17's fourth round (benign refusals), both layers.
ROUND4_BASE_COMMIT = "8d7f7202a744078e4c1de98a197e43919de6a63c"

_DRIVER = """
import json, sys
from engine import EngineConfig, evaluate_ethics
guard = None
if sys.argv[1] == "semantic":
    from db.guard_model import load_guard
    guard = load_guard()
config = EngineConfig()
for line in sys.stdin:
    prompt = json.loads(line)
    if guard is None:
        result = evaluate_ethics(prompt, config)
    else:
        result = evaluate_ethics(prompt, config, guard)
    categories = sorted({v.category for v in result.violations})
    print(json.dumps({"decision": result.decision, "categories": categories}), flush=True)
"""


def guard_files(commit: str) -> list[str]:
    """The commit's guard loader files under db/ (guard_model.py, and from issue 17's third
    round the encoder, its int8 rewrite and its tokenizer data)."""
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", commit, "db/"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return [path for path in listed if path.startswith("db/guard")]


@contextlib.contextmanager
def exported(commit: str, paths: Sequence[str]) -> Iterator[Path]:
    """A temporary folder holding `paths` as they are at `commit` (git archive)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, *paths],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="engine-at-commit-") as folder:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def baseline_verdicts(
    prompts: list[str], commit: str = BASELINE_COMMIT, semantic: bool = False
) -> list[dict[str, object]]:
    """The old engine's decision and categories for each prompt, in order.

    With `semantic`, the commit's own guard loader (db/guard_model.py) is archived too and
    its semantic layer is passed to the engine.
    """
    paths = ["engine", "db/__init__.py", *guard_files(commit)] if semantic else ["engine"]
    with exported(commit, paths) as folder:
        done = subprocess.run(
            [sys.executable, "-c", _DRIVER, "semantic" if semantic else "rules"],
            cwd=folder, input="".join(json.dumps(p) + "\n" for p in prompts),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(rows) != len(prompts):
        raise RuntimeError(f"baseline answered {len(rows)} of {len(prompts)} prompts")
    return rows
