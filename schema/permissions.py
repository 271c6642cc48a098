"""Permission checks for fields: authentication, a named permission, experimental access."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.permission import BasePermission, PermissionExtension

from auth.permissions import Permission, Principal
from core.enums import Tier
from core.errors import Forbidden, RateLimited
from resolvers.context import Info


def _checked(info: Info, check: Callable[[Principal], None]) -> bool | Awaitable[bool]:
    """True once `check` passes for the caller: at once when the caller is already
    verified, as the pipeline does before any field runs (so a synchronous field stays
    synchronous); else, outside the pipeline and on an async field only, once they are.
    `check` raises what it refuses."""
    principal = info.context.verified_principal()
    if principal is None:
        return _checked_later(info, check)
    check(principal)
    return True


async def _checked_later(info: Info, check: Callable[[Principal], None]) -> bool:
    check(await info.context.require_principal())
    return True


def _anyone(principal: Principal) -> None:
    """Any signed-in caller passes."""


class IsAuthenticated(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool | Awaitable[bool]:
        return _checked(info, _anyone)


class HasPermission(BasePermission):
    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool | Awaitable[bool]:
        return _checked(info, self._check)

    def _check(self, principal: Principal) -> None:
        if not principal.has(self.permission):
            raise Forbidden(f"this operation needs the {self.permission.value} permission")


class CanUseExperimental(BasePermission):
    """Experimental fields: the RESEARCH tier, or the consciousness:experimental permission."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool | Awaitable[bool]:
        return _checked(info, self._check)

    @staticmethod
    def _check(principal: Principal) -> None:
        if principal.tier is not Tier.RESEARCH and not principal.has(
            Permission.CONSCIOUSNESS_EXPERIMENTAL
        ):
            raise Forbidden(
                "this field is experimental: it needs the RESEARCH tier or the "
                f"{Permission.CONSCIOUSNESS_EXPERIMENTAL.value} permission"
            )


def requires(permission: Permission | None = None) -> list[FieldExtension]:
    """Field extensions that check authentication, and `permission` when given."""
    check = IsAuthenticated() if permission is None else HasPermission(permission)
    return [PermissionExtension(permissions=[check], use_directives=False)]


class TierRateLimit(FieldExtension):
    """Count the call against the caller's tier limit before resolving; refuse when spent.

    A refused call raises RATE_LIMITED with `retryAfter` and never reaches the resolver, so
    it changes nothing.
    """

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        principal = await info.context.require_principal()
        decision = await info.context.app.rate_limiter.hit_tier(principal.user_id, principal.tier)
        if not decision.allowed:
            raise RateLimited(
                f"the {principal.tier.value} tier allows {decision.limit} requests per hour",
                retry_after=decision.retry_after_seconds,
            )
        return await next_(source, info, **kwargs)


def rate_limited(permission: Permission) -> list[FieldExtension]:
    """Check `permission`, then count the call against the caller's tier limit."""
    return [*requires(permission), TierRateLimit()]


def experimental() -> list[FieldExtension]:
    """Extensions of an experimental field: the experimental check, then the tier limit."""
    return [
        PermissionExtension(permissions=[CanUseExperimental()], use_directives=False),
        TierRateLimit(),
    ]
