"""Trend and anomaly statistics of a time series: pure functions over floats."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

ROBUST_Z_SCALE = 0.6745  # Φ⁻¹(0.75): makes MAD comparable to a standard deviation
ANOMALY_THRESHOLD = 3.5  # Iglewicz & Hoaglin's recommended cut-off for |modified z|
FLAT_FRACTION = 0.01  # a fitted change under 1% of the series' mean magnitude is FLAT


class TrendDirection(Enum):
    """The sign of a fitted line's slope, or FLAT when its change is negligible."""

    UP = "up"
    DOWN = "down"
    FLAT = "flat"


@dataclass(frozen=True)
class LineFit:
    slope: float
    intercept: float
    direction: TrendDirection


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> LineFit | None:
    """The ordinary least-squares line y = slope·x + intercept; None under 2 distinct xs.

    direction: FLAT when |slope·(max x - min x)|, the change the line predicts over the
    series, is under 1% of the mean |y| (or is 0); else the slope's sign.
    """
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    level = statistics.fmean(abs(y) for y in ys)
    change = abs(slope * (max(xs) - min(xs)))
    if change == 0 or change < FLAT_FRACTION * level:
        direction = TrendDirection.FLAT
    else:
        direction = TrendDirection.UP if slope > 0 else TrendDirection.DOWN
    return LineFit(slope, intercept, direction)


def robust_z_scores(values: Sequence[float]) -> list[float | None]:
    """Iglewicz-Hoaglin modified z-scores: 0.6745·(x - median)/MAD, MAD the median of
    |x - median|. None for every value when MAD is 0 (over half the values are equal)."""
    if not values:
        return []
    median = statistics.median(values)
    mad = statistics.median(abs(value - median) for value in values)
    if mad == 0:
        return [None] * len(values)
    return [ROBUST_Z_SCALE * (value - median) / mad for value in values]


def is_anomaly(z: float | None) -> bool:
    """A point is an anomaly when |robust z| > 3.5."""
    return z is not None and abs(z) > ANOMALY_THRESHOLD


def relative_change(before: float | None, after: float | None) -> float | None:
    """(after - before) / |before|; None when either is missing or before is 0."""
    if before is None or after is None or before == 0:
        return None
    return (after - before) / abs(before)
