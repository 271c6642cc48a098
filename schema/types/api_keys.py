"""Ingestion API keys (resolvers/api_keys.py) as GraphQL types: never the key's hash."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from db.models import ApiKey as ApiKeyRow
from resolvers.api_keys import CreatedApiKey


@strawberry.type(description="An ingestion key: sends OTLP traces to /v1/traces as its owner.")
class ApiKey:
    id: uuid.UUID
    name: str
    prefix: str = strawberry.field(description="The key's public beginning, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked; a revoked key authenticates nothing."
    )

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A new key: `key` is shown this once and cannot be read again.")
class CreateApiKeyPayload:
    key: str = strawberry.field(
        description="Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
    )
    api_key: ApiKey

    @classmethod
    def from_record(cls, created: CreatedApiKey) -> CreateApiKeyPayload:
        return cls(key=created.key, api_key=ApiKey.from_row(created.api_key))
