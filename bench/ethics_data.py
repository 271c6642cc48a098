"""Our own labelled data for the ethics guard (bench/data/), read one way by every script
that tunes or checks the guard on it: only the `tune` and `validation` splits, never the
holdout splits nor SimpleSafetyTests (bench/data/README.md)."""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TRAIN_SPLITS = ("tune", "validation")


def training_rows() -> list[dict[str, str]]:
    """The rows of ethics_dev.csv in TRAIN_SPLITS (id, label, category, kind, split, prompt)."""
    with (DATA / "ethics_dev.csv").open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["split"] in TRAIN_SPLITS]


def ordinary_lines(name: str = "ethics_ordinary.txt") -> list[str]:
    """The sentences of one of the ordinary files: one a line, without comments or blanks."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]
