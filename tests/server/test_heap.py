"""The serving process tunes the garbage collector (server/heap.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server.heap import YOUNGEST_GENERATION_THRESHOLD
from tests.servers import embedded_env

PROBE = """
import gc
from server.app import app_from_environment
before = gc.get_threshold()
app_from_environment()
print(before[0], gc.get_threshold()[0], gc.get_freeze_count())
"""


def test_the_serving_app_freezes_its_start_up_heap_and_raises_the_threshold(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=embedded_env(tmp_path),
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    before, after, frozen = map(int, done.stdout.split())
    assert (before, after) == (700, YOUNGEST_GENERATION_THRESHOLD)
    assert frozen > 100_000  # the schema, libraries and lexicons built at start-up
