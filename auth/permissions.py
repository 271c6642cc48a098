"""Roles, the permissions each grants, and who may grant which role."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.enums import Role, Tier


class Permission(StrEnum):
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    AGENTS_DELETE = "agents:delete"
    AGENTS_ADMIN = "agents:admin"  # see and change every user's agents
    CONSCIOUSNESS_PROCESS = "consciousness:process"
    CONSCIOUSNESS_READ = "consciousness:read"
    CONSCIOUSNESS_EXPERIMENTAL = "consciousness:experimental"
    ANALYTICS_READ = "analytics:read"
    API_KEYS_MANAGE = "api_keys:manage"  # make, list and revoke one's own ingestion keys
    ANALYTICS_EXPORT = "analytics:export"
    ANALYTICS_ADMIN = "analytics:admin"  # every user's metrics
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    SYSTEM_READ = "system:read"  # the server's version, environment and store kinds
    ROLES_GRANT_ADMIN = "roles:grant_admin"  # grant or revoke Admin and SuperAdmin


_USER = frozenset(
    {
        Permission.AGENTS_READ,
        Permission.AGENTS_WRITE,
        Permission.AGENTS_DELETE,
        Permission.CONSCIOUSNESS_PROCESS,
        Permission.CONSCIOUSNESS_READ,
        Permission.ANALYTICS_READ,
        Permission.API_KEYS_MANAGE,
    }
)
_DEVELOPER = _USER | {Permission.ANALYTICS_EXPORT}
_RESEARCHER = _DEVELOPER | {Permission.CONSCIOUSNESS_EXPERIMENTAL}
_ADMIN = _RESEARCHER | {
    Permission.AGENTS_ADMIN,
    Permission.ANALYTICS_ADMIN,
    Permission.USERS_READ,
    Permission.USERS_MANAGE,
    Permission.AUDIT_READ,
    Permission.SYSTEM_READ,
}
_SUPER_ADMIN = _ADMIN | {Permission.ROLES_GRANT_ADMIN}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: _USER,
    Role.DEVELOPER: _DEVELOPER,
    Role.RESEARCHER: _RESEARCHER,
    Role.ADMIN: _ADMIN,
    Role.SUPER_ADMIN: _SUPER_ADMIN,
}
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.SUPER_ADMIN})


def permissions_for(roles: Iterable[Role]) -> frozenset[Permission]:
    """The union of the permissions of every role held."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted


@dataclass(frozen=True)
class Principal:
    """Who is making the request, as proven by a verified access token."""

    user_id: str
    username: str
    roles: tuple[Role, ...]
    permissions: frozenset[Permission]
    tier: Tier
    jti: str
    issued_at: float
    expires_at: float

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    def may_change_roles(self, current: set[Role], wanted: set[Role]) -> bool:
        """Only holders of roles:grant_admin may add or remove Admin or SuperAdmin."""
        touches_privileged = (current ^ wanted) & PRIVILEGED_ROLES or current & PRIVILEGED_ROLES
        return not touches_privileged or self.has(Permission.ROLES_GRANT_ADMIN)
