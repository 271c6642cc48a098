"""The grouped query that evaluates many alert rules at once.

Rules whose windows end together (and, for anomaly rules, share a bucket) are answered by
one query: one scan from the earliest start, each aggregate counting the rows of its own
window (ClickHouse's -If combinators). Each rule reads the rows of a *scope* (a user or
everyone, optionally one agent, one source, one violation category), and the query groups
the rows by `GROUPING SETS`, one set per scope shape that the rules use, computing each distinct
(aggregation, window) the rules ask for once per group. A rule then finds its value under
its scope key. Cost grows with the rows in the longest window and the groups, not with the
number of rules: 1,000 rules cost one scan (bench/alerts_bench.py measures it).
Violation categories need `arrayJoin`, which would repeat every row per category in the
other sets, so category scopes go into a query of their own.

`group_by_use_nulls` makes the dimensions a set does not group by NULL, so a key with None
means "any" and never collides with a real value (the columns are not nullable).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.analytics import as_utc
from db.analytics_migrations import METRICS_TABLE
from db.analytics_queries import (
    AggregateFunction,
    Aggregation,
    BuiltQuery,
    column_sql,
    statistic,
)

# A scope's dimensions, in key order: (user_id, agent_id, source, violation_category).
DIMENSIONS = ("user_id", "agent_id", "source", "violation_category")
ScopeKey = tuple[uuid.UUID | None, uuid.UUID | None, str | None, str | None]
Shape = tuple[bool, bool, bool, bool]  # which of DIMENSIONS a scope fixes


@dataclass(frozen=True)
class Window:
    """[start, end), and the bucket length of an anomaly series (None: one value)."""

    start: datetime
    end: datetime
    bucket_seconds: int | None = None


def shape_of(key: ScopeKey) -> Shape:
    return (key[0] is not None, key[1] is not None, key[2] is not None, key[3] is not None)


Measure = tuple[Aggregation, int]  # an aggregation over the window of that index


def _aggregate_if(
    index: int, aggregation: Aggregation, condition: str, parameters: dict[str, Any]
) -> str:
    """The SQL of an aggregation over the rows where `condition` holds (ClickHouse -If)."""
    if aggregation.function is AggregateFunction.COUNT:
        return f"toFloat64(countIf({condition}))"
    assert aggregation.field is not None
    column = column_sql(aggregation.field)
    if aggregation.function is AggregateFunction.PERCENTILE:
        parameters[f"p{index}"] = aggregation.percentile
        return f"quantileExactIf({{p{index}:Float64}})({column}, {condition})"
    return f"{aggregation.function.value}If({column}, {condition})"


def build_grouped(
    windows: tuple[Window, ...],
    shapes: set[Shape],
    measures: tuple[Measure, ...],
    user_ids: tuple[uuid.UUID, ...] | None,
) -> BuiltQuery:
    """One query answering every (shape, measure): the windows share their end and bucket,
    and are read in one scan from the earliest start, each aggregate counting the rows of
    its own window. All shapes must agree on whether they fix a violation category.
    `user_ids` narrows the scan (None: every user, when a rule reads everyone's rows)."""
    if len({shape[3] for shape in shapes}) != 1:
        raise ValueError("category and non-category scopes go into separate queries")
    if len({(w.end, w.bucket_seconds) for w in windows}) != 1:
        raise ValueError("the windows of one query share their end and bucket")
    parameters: dict[str, Any] = {"end_ms": int(windows[0].end.timestamp() * 1000)}
    starts = []
    for index, window in enumerate(windows):
        parameters[f"s{index}"] = int(window.start.timestamp() * 1000)
        starts.append(f"timestamp >= fromUnixTimestamp64Milli({{s{index}:Int64}}, 'UTC')")
    earliest = min(range(len(windows)), key=lambda index: windows[index].start)
    conditions = [starts[earliest], "timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"]
    if user_ids is not None:
        parameters["user_ids"] = list(user_ids)
        conditions.append("user_id IN {user_ids:Array(UUID)}")
    # A dimension no set groups by is selected as NULL (it is no GROUP BY key).
    used = [any(shape[index] for shape in shapes) for index in range(len(DIMENSIONS))]
    expressions = ("user_id", "agent_id", "source", "arrayJoin(violation_categories)")
    null_types = ("Nullable(UUID)", "Nullable(UUID)", "Nullable(String)", "Nullable(String)")
    selected = [
        f"{expression if use else f'CAST(NULL, {null_type!r})'} AS {name}"
        for name, expression, null_type, use in zip(
            DIMENSIONS, expressions, null_types, used, strict=True
        )
    ]
    bucket: list[str] = []
    if windows[0].bucket_seconds is not None:
        parameters["bucket_s"] = windows[0].bucket_seconds
        selected.append("toStartOfInterval(timestamp, toIntervalSecond({bucket_s:UInt32})) AS b")
        bucket = ["b"]
    aliases = [f"a{index}" for index in range(len(measures))]
    selected += [
        f"{_aggregate_if(index, aggregation, starts[window], parameters)} AS {alias}"
        for index, ((aggregation, window), alias) in enumerate(zip(measures, aliases, strict=True))
    ]
    counts = [f"n{index}" for index in range(len(windows))]
    selected += [f"countIf({start}) AS {name}" for start, name in zip(starts, counts, strict=True)]
    sets = []
    for shape in sorted(shapes):
        names = [name for name, fixed in zip(DIMENSIONS, shape, strict=True) if fixed] + bucket
        sets.append(f"({', '.join(names)})")
    # Identifiers and expressions are constants above; every value is a parameter.
    sql = (
        f"SELECT {', '.join(selected)} FROM {METRICS_TABLE} "  # noqa: S608
        f"WHERE {' AND '.join(conditions)} GROUP BY GROUPING SETS ({', '.join(sets)}) "
        "SETTINGS group_by_use_nulls = 1"
    )
    return BuiltQuery(sql, parameters, (*DIMENSIONS, *bucket, *aliases, *counts))


@dataclass(frozen=True)
class GroupValues:
    """One group's measures (None where the group has no value) and its rows per window."""

    values: tuple[float | None, ...]
    counts: tuple[int, ...]


def read_grouped(
    built: BuiltQuery, rows: list[Any], measure_count: int
) -> dict[tuple[ScopeKey, datetime | None], GroupValues]:
    """The query's rows by (scope key, bucket start or None)."""
    bucketed = "b" in built.columns
    first = 5 if bucketed else 4
    results: dict[tuple[ScopeKey, datetime | None], GroupValues] = {}
    for row in rows:
        user_id, agent_id, source, category = row[:4]
        bucket = as_utc(row[4]) if bucketed else None
        values = tuple(statistic(value) for value in row[first : first + measure_count])
        counts = tuple(int(count) for count in row[first + measure_count :])
        key: ScopeKey = (_uuid_or_none(user_id), _uuid_or_none(agent_id), source, category)
        results[(key, bucket)] = GroupValues(values, counts)
    return results


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
