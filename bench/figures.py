"""The rows every benchmark hands to bench/suite.py: a figure, its baseline, the ratio, the target.

A script run with `--json PATH` writes its figures there (besides its usual printed table);
the suite collects every script's file into one table. Each figure names its baseline,
measured in the same run of the same script, and the ratio is value / baseline value.
"""

from __future__ import annotations

import argparse
import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "≤": operator.le,
    ">": operator.gt,
    "≥": operator.ge,
}


@dataclass
class Figure:
    key: str  # stable and unique, e.g. "process.w1.c200.rps": the projection reads figures by it
    scenario: str  # "3. process", the suite's section
    figure: str  # what was measured, with its conditions
    value: float | None  # None: not measured (see note)
    unit: str
    baseline: str = ""  # what the value is compared with, measured in the same run
    baseline_value: float | None = None
    target_op: str = ""  # one of COMPARISONS, or "" for no target
    target_value: float | None = None
    note: str = ""
    ratio: float | None = None  # value / baseline_value unless given (a median of ratios)
    ratio_target: float | None = None  # the ratio must reach at least this (a same-run target)
    met: bool | None = field(default=None, init=False)  # value (or ratio) against the target

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.baseline_value:
            self.ratio = self.value / self.baseline_value
        if self.value is not None and self.target_value is not None:
            self.met = COMPARISONS[self.target_op](self.value, self.target_value)
        elif self.ratio is not None and self.ratio_target is not None:
            self.met = self.ratio >= self.ratio_target

    def target(self) -> str:
        """The target as text, e.g. "< 200 ms" or "ratio >= 0.8x", or "" when none."""
        if self.ratio_target is not None:
            return f"ratio >= {self.ratio_target:g}x"
        if self.target_value is None:
            return ""
        return f"{self.target_op} {number(self.target_value)} {self.unit}"


def number(value: float | None) -> str:
    """A figure for a table: thousands separated, three significant digits below 100."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def slug(text: str) -> str:
    """`text` as a figure key part: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def int_list(text: str) -> list[int]:
    """A comma-separated list of whole numbers, e.g. "50,200" (an argparse type)."""
    return [int(n) for n in text.split(",")]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the figures here (bench/suite.py)"
    )


def add_load_options(parser: argparse.ArgumentParser, connections: list[int]) -> None:
    """The options of the wrk load scripts: --duration (15 s rows), --connections, --quick
    (3-second rows, see parse_load_options) and --json."""
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per row")
    parser.add_argument("--connections", type=int_list, default=connections, help="e.g. 50,200")
    parser.add_argument("--quick", action="store_true", help="3-second rows")
    add_json_option(parser)


def parse_load_options(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with --quick applied."""
    args = parser.parse_args()
    if args.quick:
        args.duration = 3
    return args


def write_figures(path: Path | None, figures: list[Figure], **context: object) -> None:
    """Write the figures (and any context: settings, machine) as JSON, when a path is given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**context, "figures": [asdict(figure) for figure in figures]}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def read_figures(path: Path) -> list[Figure]:
    """The figures a script wrote with write_figures."""
    figures = []
    for item in json.loads(path.read_text(encoding="utf-8"))["figures"]:
        item.pop("met", None)
        figures.append(Figure(**item))
    return figures


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the smallest value with `fraction` of them at or below it)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
