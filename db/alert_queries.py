"""The grouped query that evaluates many alert rules at once over one window.

Rules that share a window (and, for anomaly rules, a bucket) are answered by one query:
each rule reads the rows of a *scope* (a user or everyone, optionally one agent, one
source, one violation category), and the query groups the window's rows by
`GROUPING SETS`, one set per scope shape that the rules use, computing each distinct
aggregation the rules ask for once per group. A rule then finds its value under its scope
key. Cost grows with the rows in the window and the groups, not with the number of rules:
1,000 rules over the same shapes cost one scan (bench/alerts_bench.py measures it).
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
from db.analytics_queries import Aggregation, BuiltQuery, aggregate_sql, statistic

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


def build_grouped(
    window: Window,
    shapes: set[Shape],
    aggregations: tuple[Aggregation, ...],
    user_ids: tuple[uuid.UUID, ...] | None,
) -> BuiltQuery:
    """One query answering every (shape, aggregation) over `window`; all shapes must agree
    on whether they fix a violation category. `user_ids` narrows the scan (None: every
    user, when some rule reads everyone's rows)."""
    if len({shape[3] for shape in shapes}) != 1:
        raise ValueError("category and non-category scopes go into separate queries")
    parameters: dict[str, Any] = {
        "start_ms": int(window.start.timestamp() * 1000),
        "end_ms": int(window.end.timestamp() * 1000),
    }
    conditions = [
        "timestamp >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')",
        "timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')",
    ]
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
    if window.bucket_seconds is not None:
        parameters["bucket_s"] = window.bucket_seconds
        selected.append("toStartOfInterval(timestamp, toIntervalSecond({bucket_s:UInt32})) AS b")
        bucket = ["b"]
    aliases = [f"a{index}" for index in range(len(aggregations))]
    selected += [
        f"{aggregate_sql(index, aggregation, parameters)} AS {alias}"
        for index, (aggregation, alias) in enumerate(zip(aggregations, aliases, strict=True))
    ]
    selected.append("count() AS row_count")
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
    return BuiltQuery(sql, parameters, (*DIMENSIONS, *bucket, *aliases, "row_count"))


@dataclass(frozen=True)
class GroupValues:
    """One group's aggregates (None where the group has no value) and its row count."""

    values: tuple[float | None, ...]
    count: int


def read_grouped(
    built: BuiltQuery, rows: list[Any], aggregation_count: int
) -> dict[tuple[ScopeKey, datetime | None], GroupValues]:
    """The query's rows by (scope key, bucket start or None)."""
    bucketed = "b" in built.columns
    results: dict[tuple[ScopeKey, datetime | None], GroupValues] = {}
    for row in rows:
        user_id, agent_id, source, category = row[:4]
        bucket = as_utc(row[4]) if bucketed else None
        first = 5 if bucketed else 4
        values = tuple(statistic(value) for value in row[first : first + aggregation_count])
        key: ScopeKey = (
            _uuid_or_none(user_id),
            _uuid_or_none(agent_id),
            source,
            category,
        )
        results[(key, bucket)] = GroupValues(values, int(row[-1]))
    return results


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
