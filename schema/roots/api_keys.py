"""Root fields of ingestion API keys: make, list and revoke your own."""

from __future__ import annotations

import uuid

import strawberry

from auth.permissions import Permission
from resolvers import api_keys
from resolvers.context import Info
from schema.permissions import requires
from schema.types.api_keys import ApiKey, CreateApiKeyPayload

MANAGE = Permission.API_KEYS_MANAGE


@strawberry.type
class Query:
    @strawberry.field(
        description="Your ingestion keys, revoked ones included, newest first.",
        extensions=requires(MANAGE),
    )
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return [ApiKey.from_row(row) for row in await api_keys.list_api_keys(info)]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A new key for sending OTLP traces to /v1/traces; the key is shown once.",
        extensions=requires(MANAGE),
    )
    async def create_api_key(self, info: Info, name: str) -> CreateApiKeyPayload:
        return CreateApiKeyPayload.from_record(await api_keys.create_api_key(info, name))

    @strawberry.mutation(
        description="Revoke one of your keys; traces sent with it are refused from now on.",
        extensions=requires(MANAGE),
    )
    async def revoke_api_key(self, info: Info, id: uuid.UUID) -> ApiKey:
        return ApiKey.from_row(await api_keys.revoke_api_key(info, id))
