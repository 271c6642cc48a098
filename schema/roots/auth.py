"""Root fields of authentication and user administration."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import strawberry

from auth.permissions import Permission
from resolvers import auth, users
from resolvers.auth import ACCOUNT_ROW_FIELDS
from resolvers.context import Info
from resolvers.selection import selects
from schema.permissions import requires
from schema.types.auth import (
    AuditEntry,
    AuditEntryConnection,
    AuthPayload,
    RegisterInput,
    Role,
    Tier,
    User,
    UserConnection,
)
from schema.types.pagination import connection

DEFAULT_PAGE_SIZE = 50


async def _me_from_the_row(info: Info) -> User:
    """`me` when the query asks for a field only the account row answers."""
    return User.from_row(await auth.me(info))


@strawberry.type
class Query:
    # Synchronous when the token's claims answer it: no database read, nothing to await.
    @strawberry.field(description="The signed-in user.", extensions=requires(), graphql_type=User)
    def me(self, info: Info) -> User | Awaitable[User]:
        principal = info.context.verified_principal()
        if principal is not None and not selects(info, ACCOUNT_ROW_FIELDS):
            return User.from_claims(principal)
        return _me_from_the_row(info)

    @strawberry.field(
        description="Every user, by username.", extensions=requires(Permission.USERS_READ)
    )
    async def users(
        self, info: Info, first: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> UserConnection:
        return connection(await users.list_users(info, first, after), User.from_row)

    @strawberry.field(
        description="Security events, newest first.", extensions=requires(Permission.AUDIT_READ)
    )
    async def audit_log(
        self,
        info: Info,
        user_id: uuid.UUID | None = None,
        action: str | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> AuditEntryConnection:
        return connection(
            await users.audit_log(info, user_id, action, first, after), AuditEntry.from_row
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an account (USER role, BASIC tier) and sign in.")
    async def register(self, info: Info, input: RegisterInput) -> AuthPayload:
        return AuthPayload.from_record(await auth.register(info, input.to_draft()))

    @strawberry.mutation(description="Sign in; failed attempts are throttled per user and IP.")
    async def login(self, info: Info, username: str, password: str) -> AuthPayload:
        return AuthPayload.from_record(await auth.login(info, username, password))

    @strawberry.mutation(description="Spend a refresh token for a new token pair.")
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        return AuthPayload.from_record(await auth.refresh_token(info, refresh_token))

    @strawberry.mutation(description="Revoke this sign-in's refresh tokens and access token.")
    async def logout(self, info: Info, refresh_token: str) -> bool:
        return await auth.logout(info, refresh_token)

    @strawberry.mutation(
        description="Replace a user's roles; only a SUPER_ADMIN grants ADMIN or SUPER_ADMIN.",
        extensions=requires(Permission.USERS_MANAGE),
    )
    async def update_user_roles(
        self,
        info: Info,
        user_id: uuid.UUID,
        roles: list[Role],  # type: ignore[valid-type]
    ) -> User:
        return User.from_row(await users.update_user_roles(info, user_id, roles))

    @strawberry.mutation(
        description="Set a user's tier (their rate limit).",
        extensions=requires(Permission.USERS_MANAGE),
    )
    async def set_user_tier(
        self,
        info: Info,
        user_id: uuid.UUID,
        tier: Tier,  # type: ignore[valid-type]
    ) -> User:
        return User.from_row(await users.set_user_tier(info, user_id, tier))

    @strawberry.mutation(
        description="Deactivate a user: sign-in refused, existing tokens rejected.",
        extensions=requires(Permission.USERS_MANAGE),
    )
    async def deactivate_user(self, info: Info, user_id: uuid.UUID) -> User:
        return User.from_row(await users.deactivate_user(info, user_id))
