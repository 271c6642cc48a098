"""Users, roles, tiers, token payloads and audit entries as GraphQL types."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from auth.permissions import Principal, permissions_for
from core.enums import Role as RoleValue
from core.enums import Tier as TierValue
from db.models import AuditLog as AuditLogRow
from db.models import User as UserRow
from resolvers.auth import TOKEN_TYPE, IssuedTokens, Registration
from schema.types.pagination import Connection

Role = strawberry.enum(RoleValue, name="Role", description="What a user may do (RBAC).")
Tier = strawberry.enum(
    TierValue,
    name="Tier",
    description="Sets the hourly limit of consciousness operations: BASIC 100, ADVANCED 1000, "
    "ENTERPRISE unlimited, RESEARCH as ADVANCED plus experimental fields.",
)


@strawberry.type(description="A user account. Password hashes are never exposed.")
class User:
    id: uuid.UUID
    username: str
    roles: list[Role]  # type: ignore[valid-type]
    tier: Tier  # type: ignore[valid-type]
    permissions: list[str] = strawberry.field(description="Granted by the roles held.")
    row: strawberry.Private[UserRow | None] = None

    @strawberry.field
    def email(self) -> str:
        return self._row().email

    @strawberry.field
    def is_active(self) -> bool:
        return self._row().is_active

    @strawberry.field
    def created_at(self) -> datetime:
        return self._row().created_at

    @strawberry.field
    def last_login_at(self) -> datetime | None:
        return self._row().last_login_at

    def _row(self) -> UserRow:
        if self.row is None:  # from_claims: for selections without ACCOUNT_ROW_FIELDS
            raise RuntimeError("a user built from token claims was asked for its account row")
        return self.row

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        roles = tuple(RoleValue(role) for role in row.roles)
        return cls(
            id=row.id,
            username=row.username,
            roles=list(roles),
            tier=TierValue(row.tier),
            permissions=list(_permission_names(roles)),
            row=row,
        )

    @classmethod
    def from_claims(cls, principal: Principal) -> User:
        """The signed-in user as their token states it: current while the token is valid,
        since a role or tier change revokes the user's earlier tokens and usernames never
        change."""
        return cls(
            id=uuid.UUID(principal.user_id),
            username=principal.username,
            roles=list(principal.roles),
            tier=principal.tier,
            permissions=list(_permission_names(tuple(principal.roles))),
        )


@strawberry.type
class AuthPayload:
    access_token: str = strawberry.field(description="JWT for 'Authorization: Bearer …'.")
    refresh_token: str = strawberry.field(description="Opaque; single use; rotates on refresh.")
    token_type: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User

    @classmethod
    def from_record(cls, record: IssuedTokens) -> AuthPayload:
        return cls(
            access_token=record.access_token,
            refresh_token=record.refresh_token,
            token_type=TOKEN_TYPE,
            expires_in=record.expires_in,
            user=User.from_row(record.user),
        )


@strawberry.input
class RegisterInput:
    username: str
    email: str
    password: str

    def to_draft(self) -> Registration:
        return Registration(username=self.username, email=self.email, password=self.password)


@strawberry.type(description="One security-relevant event.")
class AuditEntry:
    id: uuid.UUID
    user_id: uuid.UUID | None
    action: str
    ip_address: str | None
    user_agent: str | None
    details: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: AuditLogRow) -> AuditEntry:
        return cls(
            id=row.id,
            user_id=row.user_id,
            action=row.action,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            details=JSON(row.details),
            created_at=row.created_at,
        )


UserConnection = Connection[User]
AuditEntryConnection = Connection[AuditEntry]


@functools.cache
def _permission_names(roles: tuple[RoleValue, ...]) -> tuple[str, ...]:
    """The sorted names of what `roles` grant: one computation per combination of roles (a
    page of agents shows as many owners, each with the same few roles)."""
    return tuple(sorted(permission.value for permission in permissions_for(roles)))
