"""Permission checks for fields: authentication, and one named permission of auth/permissions."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from auth.permissions import Permission
from schema.errors import Forbidden
from server.context import Info


class IsAuthenticated(BasePermission):
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await info.context.require_principal()
        return True


class HasPermission(BasePermission):
    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = await info.context.require_principal()
        if not principal.has(self.permission):
            raise Forbidden(f"this operation needs the {self.permission.value} permission")
        return True


def requires(permission: Permission | None = None) -> list[FieldExtension]:
    """Field extensions that check authentication, and `permission` when given."""
    check = IsAuthenticated() if permission is None else HasPermission(permission)
    return [PermissionExtension(permissions=[check], use_directives=False)]
