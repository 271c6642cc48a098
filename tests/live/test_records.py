"""One typed definition per record: the metrics row and each broker event kind.

The GraphQL MetricsEvent has MetricsRow's fields (the ClickHouse table is checked in
tests/analytics/test_table.py); every event kind travels as a snake_case payload and back;
a payload that does not parse is dropped with a warning, and the subscription goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import typing
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import GraphQLObjectType
from strawberry.utils.str_converters import to_camel_case

from core.enums import AgentStatus
from core.events import AgentChanged, AgentEventKind, StateChanged
from core.payloads import Payload, PayloadError
from core.records import MetricsRow
from db.pubsub import Broker
from resolvers.live import Delivered, Records
from schema.schema import schema

NOW = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
ROW = MetricsRow(
    timestamp=NOW,
    request_id=uuid.uuid4(),
    user_id=uuid.uuid4(),
    agent_id=uuid.uuid4(),
    processing_time_ms=12.5,
    awareness_level=0.5,
    ethical_score=0.9,
    confidence=0.75,
    cognitive_load=0.25,
    valence=-0.1,
    arousal=0.3,
    blocked=False,
    error=False,
    violation_categories=("PII", "S1"),
    input_chars=42,
    cpu_percent=3.0,
    memory_mb=120.0,
)
RECORDS: list[Payload] = [
    ROW,
    AgentChanged(
        kind=AgentEventKind.STATUS_CHANGED,
        agent_id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        status=AgentStatus.ACTIVE,
        version=3,
        timestamp=NOW,
    ),
    StateChanged(
        agent_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        blocked=True,
        state={"sessions": 2},
        timestamp=NOW,
    ),
]
# The GraphQL type of each Python type a MetricsRow field has.
GRAPHQL_TYPES: dict[Any, str] = {
    datetime: "DateTime!",
    uuid.UUID: "UUID!",
    float: "Float!",
    bool: "Boolean!",
    int: "Int!",
    str: "String!",
    tuple[str, ...]: "[String!]!",
    float | None: "Float",
}


def test_the_graphql_metrics_event_has_the_fields_of_the_metrics_row() -> None:
    graphql_type = schema._schema.type_map["MetricsEvent"]
    assert isinstance(graphql_type, GraphQLObjectType)
    in_graphql = {name: str(field.type) for name, field in graphql_type.fields.items()}
    hints = typing.get_type_hints(MetricsRow)
    from_record = {
        to_camel_case(f.name): GRAPHQL_TYPES[hints[f.name]] for f in dataclasses.fields(MetricsRow)
    }
    assert in_graphql == {"sequence": "Int!", "coalesced": "Int!", **from_record}


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: type(record).__name__)
def test_every_event_kind_travels_as_a_snake_case_payload_and_back(record: Payload) -> None:
    payload = record.to_payload()
    assert list(payload) == [f.name for f in dataclasses.fields(record)]  # type: ignore[arg-type]
    assert type(record).from_payload(payload) == record


def test_the_payload_spells_ids_times_and_enums_as_strings() -> None:
    change = RECORDS[1]
    assert isinstance(change, AgentChanged)
    assert change.to_payload() == {
        "kind": "STATUS_CHANGED",
        "agent_id": str(change.agent_id),
        "owner_id": str(change.owner_id),
        "status": "ACTIVE",
        "version": 3,
        "timestamp": "2025-01-02T03:04:05.678000+00:00",
    }
    assert ROW.to_payload()["violation_categories"] == ["PII", "S1"]


@pytest.mark.parametrize(
    "change",
    [
        {"request_id": "not-a-uuid"},
        {"blocked": "no"},
        {"input_chars": 4.5},
        {"processing_time_ms": None},
        {"violation_categories": "PII"},
        {"timestamp": 17},
    ],
)
def test_a_payload_that_is_not_a_row_raises_payload_error(change: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        MetricsRow.from_payload({**ROW.to_payload(), **change})


def test_a_payload_without_a_required_field_raises_payload_error() -> None:
    payload = ROW.to_payload()
    del payload["gpu_percent"]  # it has a default
    assert MetricsRow.from_payload(payload) == ROW
    del payload["user_id"]
    with pytest.raises(PayloadError, match="has no user_id"):
        MetricsRow.from_payload(payload)


async def test_an_unreadable_payload_is_dropped_with_a_warning(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    old_style = {"agentId": str(uuid.uuid4()), "kind": "CREATED"}  # the camelCase of before
    async with broker.subscribe("agent:x") as subscription:
        records = Records(subscription, AgentChanged.from_payload)
        with caplog.at_level(logging.WARNING, logger="resolvers.live"):
            await broker.publish("agent:x", old_style)
            await broker.publish("agent:x", RECORDS[1].to_payload())
            received = await asyncio.wait_for(anext(records), 5)
    assert received == Delivered(2, RECORDS[1])
    assert "dropped event 1 of agent:x" in caplog.text
