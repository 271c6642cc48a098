"""The previous engine's ethics verdicts, for the ethics bench's same-run baseline.

The engine as of BASELINE_COMMIT (the last commit before the intent-and-target rules and
the semantic layer) is exported with `git archive` into a temporary folder (no checkout, no
worktree) and run in a child process on the same prompts; it prints one JSON object per
prompt: decision and categories. Run from the repo root.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "9219bd024b06d998bdcebeb51c9fed3205611d03"

_DRIVER = """
import json, sys
from engine import EngineConfig, evaluate_ethics
config = EngineConfig()
for line in sys.stdin:
    result = evaluate_ethics(json.loads(line), config)
    categories = sorted({v.category for v in result.violations})
    print(json.dumps({"decision": result.decision, "categories": categories}), flush=True)
"""


def baseline_verdicts(prompts: list[str], commit: str = BASELINE_COMMIT) -> list[dict[str, object]]:
    """The old engine's decision and categories for each prompt, in order."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "engine"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ethics-baseline-") as folder:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        done = subprocess.run(
            [sys.executable, "-c", _DRIVER],
            cwd=folder, input="".join(json.dumps(p) + "\n" for p in prompts),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(rows) != len(prompts):
        raise RuntimeError(f"baseline answered {len(rows)} of {len(prompts)} prompts")
    return rows
