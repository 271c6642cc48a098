"""Benchmark: one alert evaluation cycle of 1,000 rules over 1,000,000 metrics rows.

Embedded chDB and SQLite in a temporary directory. The rows (made by ClickHouse from
`numbers()`) span the last ~17 minutes: 10 users, 100 agents, two sources, one category.
The 1,000 rules mix what users write: p95 of processing time, block rate, request count,
mean awareness, over 5-minute and 1-hour windows, scoped to a user, one of their agents, a
source or a category. Figures, each the median of the runs:

- measure: `resolvers.alert_evaluation.measure` alone (the grouped ClickHouse queries: one
  scan for both windows, and one more for the category scopes, so 2 here);
- cycle: a whole `AlertEvaluator.run_cycle` in steady state (rules read from SQLite,
  measured, states unchanged, values stored in one executemany);
- baseline: one query of the same kind over the same rows (exact p95 of processing time
  by agent over the whole table), the floor of a scan;
- per-rule: the same rules evaluated one query each (the design this replaces), timed on
  a sample and scaled to 1,000.

Run: `flock /tmp/bench.lock .venv/bin/python bench/alerts_bench.py [--runs R] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import Figure, add_json_option, write_figures

from core.settings import Settings
from db.analytics import AnalyticsStore
from db.analytics_migrations import migrate_analytics
from db.analytics_queries import (
    AggregateFunction,
    Aggregation,
    Dimension,
    MetricField,
    MetricsFilter,
    MetricsQuery,
    build_aggregate,
)
from db.crypto import Keyring
from db.migrate import upgrade_database
from db.models import Agent, AlertRule, User
from db.pubsub import InProcessBroker
from db.session import Database
from db.stores import Stores
from db.tokens import InProcessTokenStore
from outbound.email import SmtpConfig
from outbound.webhooks import WebhookSender
from resolvers.alert_evaluation import measure
from resolvers.alert_evaluator import AlertEvaluator
from resolvers.alert_notify import Notifier

ROWS = 1_000_000
RULES = 1_000
USERS, AGENTS = 10, 100
PER_RULE_SAMPLE = 40
CYCLE_TARGET_MS = 1000.0

USER_IDS = [uuid.UUID(f"00000000-0000-0000-0000-{index:012d}") for index in range(USERS)]
AGENT_IDS = [uuid.UUID(f"00000000-0000-0000-0001-{index:012d}") for index in range(AGENTS)]
KINDS: list[dict[str, Any]] = [
    {"function": "quantileExact", "field": "processing_time_ms", "percentile": 0.95,
     "comparator": "gt", "threshold": 90.0},
    {"function": "avg", "field": "blocked", "comparator": "gt", "threshold": 0.1},
    {"function": "count", "comparator": "eq", "threshold": 0.0},
    {"function": "avg", "field": "awareness_level", "comparator": "lt", "threshold": 0.2},
]  # fmt: skip


async def fill(store: AnalyticsStore) -> None:
    await store.command(
        f"""INSERT INTO consciousness_metrics
        SELECT now64(3) - toIntervalMillisecond(number), generateUUIDv4(),
               toUUID(concat('00000000-0000-0000-0000-', leftPad(toString(number % 10), 12, '0'))),
               toUUID(concat('00000000-0000-0000-0001-',
                             leftPad(toString(number % {AGENTS}), 12, '0'))),
               5 + (number * 7919 % 1000) / 10, (number % 11) / 10, (number % 7) / 6, 0.5, 0.25,
               0, 0.5, number % 13 = 0, false, if(number % 5 = 0, ['S1'], []), 100, 3, 120, NULL,
               if(number % 3 = 0, 'otlp', 'graphql'), '', '', 0, 0, '', ''
        FROM numbers({ROWS})"""
    )


def make_rules() -> list[AlertRule]:
    """RULES rules: agent i belongs to user i % 10, as in the rows."""
    rules = []
    for index in range(RULES):
        user = USER_IDS[index % USERS]
        agent = AGENT_IDS[(index // USERS * USERS + index % USERS) % AGENTS]
        scope = index % 5  # 0: the user, 1-2: an agent, 3: a source, 4: a category
        rules.append(
            AlertRule(
                id=uuid.uuid4(),
                owner_id=user,
                name=f"rule {index}",
                kind="threshold",
                window_seconds=300 if index % 2 else 3600,
                agent_id=agent if scope in (1, 2) else None,
                source="otlp" if scope == 3 else None,
                category="S1" if scope == 4 else None,
                secret=b"x" * 32,  # unsealed, as rows from before migration 0011
                channels=[],
                **KINDS[index % len(KINDS)],
            )
        )
    return rules


async def add_rules(database: Database, rules: list[AlertRule]) -> None:
    async with database.session() as session:
        for user_id in USER_IDS:
            session.add(User(id=user_id, username=user_id.hex, email=f"{user_id.hex}@b.example",
                             password_hash="x"))  # fmt: skip
        await session.flush()
        for index, agent_id in enumerate(AGENT_IDS):
            session.add(Agent(id=agent_id, owner_id=USER_IDS[index % USERS], name=agent_id.hex,
                              agent_type="general"))  # fmt: skip
        await session.flush()
        for rule in rules:
            session.add(AlertRule(**rule.model_dump()))


def baseline_query(now: datetime) -> MetricsQuery:
    where = MetricsFilter(start=now - timedelta(hours=1), end=now + timedelta(minutes=1))
    aggregation = Aggregation(AggregateFunction.PERCENTILE, MetricField.PROCESSING_TIME_MS, 0.95)
    return MetricsQuery(where, (aggregation,), (Dimension.AGENT,), limit=1000)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="repetitions of each figure")
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alerts-bench-") as tmp:
        directory = Path(tmp)
        store = await AnalyticsStore.open(f"chdb://{directory / 'chdb'}")
        database = Database(f"sqlite+aiosqlite:///{directory / 'alerts.db'}")
        stores = Stores(database=database, broker=InProcessBroker(), analytics=store,
                        tokens=InProcessTokenStore())  # fmt: skip
        try:
            await migrate_analytics(store, retention_days=90)
            await upgrade_database(database.engine)
            await fill(store)
            rules = make_rules()
            await add_rules(database, rules)
            now = datetime.now(UTC)
            settings = Settings(_env_file=None, data_dir=directory)  # type: ignore[call-arg]
            app: Any = type("App", (), {"stores": stores, "settings": settings})()
            webhooks = WebhookSender(timeout_seconds=1, max_attempts=1, backoff_seconds=0,
                                     allow_private=False)  # fmt: skip
            smtp = SmtpConfig("", 25, settings.smtp_security, "", "", "")
            notifier = Notifier(stores, Keyring(*settings.data_keys()), webhooks, smtp)
            evaluator = AlertEvaluator(app, notifier, 30.0)
            first = await evaluator.run_cycle(now)  # states move once; later cycles are steady
            built = build_aggregate(baseline_query(now))
            measured, cycles, baseline = [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                await store.query_rows(built.sql, built.parameters)
                baseline.append(time.perf_counter() - started)
                started = time.perf_counter()
                await measure(stores, rules, now)
                measured.append(time.perf_counter() - started)
                started = time.perf_counter()
                report = await evaluator.run_cycle(now)
                cycles.append(time.perf_counter() - started)
                assert report.rules == RULES, report
                assert report.changes == 0, report
            per_rule = []
            for rule in rules[:PER_RULE_SAMPLE]:
                started = time.perf_counter()
                await measure(stores, [rule], now)
                per_rule.append(time.perf_counter() - started)
            await notifier.close()
        finally:
            await store.close()
            await database.close()
    measure_ms, cycle_ms, base_ms = median_ms(measured), median_ms(cycles), median_ms(baseline)
    per_rule_ms = statistics.fmean(per_rule) * 1000 * RULES
    print(f"first cycle: {first.changes} changes of state, {first.notified} notified")
    print("| figure (median ms) | value | baseline: one p95-by-agent query | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| measure {RULES:,} rules, {ROWS:,} rows | {measure_ms:.1f} | {base_ms:.1f} "
          f"| {measure_ms / base_ms:.2f} |")  # fmt: skip
    print(f"| whole cycle, steady state | {cycle_ms:.1f} | {base_ms:.1f} "
          f"| {cycle_ms / base_ms:.2f} |")  # fmt: skip
    print(f"| one query per rule (from {PER_RULE_SAMPLE}, scaled x{RULES // PER_RULE_SAMPLE}) "
          f"| {per_rule_ms:.0f} | {base_ms:.1f} | {per_rule_ms / base_ms:.1f} |")  # fmt: skip
    scenario = "extra: alerts"
    write_figures(args.json, [
        Figure("alerts.cycle_ms", scenario,
               f"one evaluation cycle, {RULES:,} rules over {ROWS:,} rows (steady state)",
               cycle_ms, "ms", "one p95-by-agent query over the same rows", base_ms,
               "<", CYCLE_TARGET_MS),
        Figure("alerts.measure_ms", scenario, f"the grouped queries of {RULES:,} rules",
               measure_ms, "ms", "one p95-by-agent query over the same rows", base_ms),
        Figure("alerts.per_rule_ms", scenario,
               f"one query per rule, {RULES:,} rules (scaled from {PER_RULE_SAMPLE})",
               per_rule_ms, "ms", "the grouped queries of the same rules", measure_ms),
    ])  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
