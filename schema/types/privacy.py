"""Types of the caller's own data: the export (GDPR access) of everything about them."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from resolvers.privacy import PersonalData
from schema.types.analytics import ExportPayload


@strawberry.type(
    description="Everything the server holds about you: your rows now, your metrics to download."
)
class PersonalDataExport:
    generated_at: datetime
    data: JSON = strawberry.field(
        description="Your rows by table: user (without the password hash), api_keys "
        "(without their hashes), agents, agent_versions, consciousness_sessions, "
        "ethics_feedback, audit_log."
    )
    metrics: ExportPayload = strawberry.field(
        description="Every analytics row of yours (JSON lines), at `url` until `expiresAt`."
    )

    @classmethod
    def from_record(cls, record: PersonalData) -> PersonalDataExport:
        return cls(
            generated_at=record.generated_at,
            data=JSON(record.data),
            metrics=ExportPayload.from_record(record.metrics),
        )
