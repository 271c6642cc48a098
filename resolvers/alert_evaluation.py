"""What alert rules measure now, and the state each moves to: OK → PENDING → FIRING → RESOLVED.

`measure` answers every rule with one ClickHouse query per distinct window end (and bucket,
for anomaly rules), and per category-ness (db/alert_queries.py). `next_state` is the state
machine, a pure function:

- the condition holds: OK/RESOLVED go to PENDING (to FIRING at once when `for` is 0);
  PENDING goes to FIRING once the condition has held `for` seconds;
- it does not: PENDING goes back to OK, FIRING to RESOLVED.

FIRING notifies unless the rule notified a FIRING less than `cooldown` seconds ago (the
change is recorded all the same, with notified = false); RESOLVED notifies only when the
FIRING it ends was notified, so a receiver never hears "resolved" about an alert it was
not told of.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.alerts import AlertKind, AlertState, Comparator
from db.alert_queries import GroupValues, ScopeKey, Shape, Window, build_grouped, read_grouped
from db.alert_queries import shape_of as shape_of_key
from db.analytics_queries import AggregateFunction, Aggregation, MetricField
from db.models import AlertRule
from db.stores import Stores
from resolvers.analytics_math import robust_z_scores

_ZERO_WHEN_EMPTY = (AggregateFunction.COUNT, AggregateFunction.SUM)


@dataclass(frozen=True)
class Measurement:
    """A rule's value now (None: no value in the window) and whether its condition holds."""

    value: float | None
    holds: bool


@dataclass(frozen=True)
class Transition:
    state: AlertState
    pending_since: datetime | None
    notify: bool


def scope_key(rule: AlertRule) -> ScopeKey:
    """The rows a rule reads: its owner's (or everyone's), narrowed by its filters."""
    return (None if rule.all_users else rule.owner_id, rule.agent_id, rule.source, rule.category)


def aggregation_of(rule: AlertRule) -> Aggregation:
    function = AggregateFunction(rule.function)
    field = MetricField(rule.field) if rule.field is not None else None
    return Aggregation(function, field, rule.percentile)


def window_of(rule: AlertRule, now: datetime) -> Window:
    """[now - window, now); an anomaly rule's end is aligned to its bucket, so every bucket
    of its series is complete."""
    if rule.kind == AlertKind.ANOMALY and rule.bucket_seconds:
        epoch = int(now.timestamp())
        end = datetime.fromtimestamp(epoch - epoch % rule.bucket_seconds, now.tzinfo)
        return Window(end - timedelta(seconds=rule.window_seconds), end, rule.bucket_seconds)
    return Window(now - timedelta(seconds=rule.window_seconds), now)


QueryKey = tuple[datetime, int | None, bool]  # windows' end, bucket, whether by category


async def measure(
    stores: Stores, rules: Sequence[AlertRule], now: datetime
) -> dict[object, Measurement]:
    """Every rule's Measurement by rule id: one grouped query per distinct window end and
    bucket, and category-ness (at most 2 for all threshold rules together)."""
    batches: dict[QueryKey, list[AlertRule]] = defaultdict(list)
    for rule in rules:
        window = window_of(rule, now)
        batches[(window.end, window.bucket_seconds, rule.category is not None)].append(rule)
    results: dict[object, Measurement] = {}
    for batch in batches.values():
        windows = tuple(sorted({window_of(rule, now) for rule in batch}, key=lambda w: w.start))
        measures = tuple(
            dict.fromkeys(
                (aggregation_of(rule), windows.index(window_of(rule, now))) for rule in batch
            )
        )
        shapes: set[Shape] = {shape_of_key(scope_key(rule)) for rule in batch}
        everyone = any(rule.all_users for rule in batch)
        user_ids = None if everyone else tuple(sorted({rule.owner_id for rule in batch}))
        built = build_grouped(windows, shapes, measures, user_ids)
        rows = await stores.analytics.query_rows(built.sql, built.parameters)
        groups = read_grouped(built, rows, len(measures))
        for rule in batch:
            position = windows.index(window_of(rule, now))
            index = measures.index((aggregation_of(rule), position))
            results[rule.id] = _measure_rule(rule, windows[position], groups, index, position)
    return results


def _measure_rule(
    rule: AlertRule,
    window: Window,
    groups: dict[tuple[ScopeKey, datetime | None], GroupValues],
    index: int,
    window_index: int,
) -> Measurement:
    key = scope_key(rule)
    if window.bucket_seconds is None:
        found = groups.get((key, None))
        if found is not None and found.counts[window_index] > 0:
            value = found.values[index]
        else:
            empty_is_zero = AggregateFunction(rule.function) in _ZERO_WHEN_EMPTY
            value = 0.0 if empty_is_zero else None
        holds = value is not None and Comparator(rule.comparator).holds(value, rule.threshold)
        return Measurement(value, holds)
    series = sorted(
        (bucket, group.values[index])
        for (group_key, bucket), group in groups.items()
        if group_key == key and bucket is not None and group.values[index] is not None
    )
    newest = window.end - timedelta(seconds=window.bucket_seconds)
    if not series or series[-1][0] != newest:
        return Measurement(None, False)  # no value in the newest bucket: nothing to flag
    scores = robust_z_scores([value for _, value in series if value is not None])
    z = scores[-1]
    return Measurement(z, z is not None and abs(z) > rule.threshold)


def next_state(rule: AlertRule, measurement: Measurement, now: datetime) -> Transition | None:
    """The rule's next state (module docstring); None when it stays as it is."""
    state = AlertState(rule.state)
    if measurement.holds:
        if state is AlertState.FIRING:
            return None
        since = rule.pending_since if state is AlertState.PENDING else now
        assert since is not None
        if now - since < timedelta(seconds=rule.for_seconds):
            return (
                None if state is AlertState.PENDING else Transition(AlertState.PENDING, now, False)
            )
        cooled = rule.last_notified_at is None or now - rule.last_notified_at >= timedelta(
            seconds=rule.cooldown_seconds
        )
        return Transition(AlertState.FIRING, since, cooled)
    if state is AlertState.PENDING:
        return Transition(AlertState.OK, None, False)
    if state is AlertState.FIRING:
        told = (
            rule.last_notified_at is not None
            and rule.pending_since is not None
            and rule.last_notified_at >= rule.pending_since
        )
        return Transition(AlertState.RESOLVED, None, told)
    return None
