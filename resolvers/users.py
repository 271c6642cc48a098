"""Use cases of user administration: list users, change roles and tiers, deactivate, audit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from auth.permissions import PRIVILEGED_ROLES, Permission, Principal
from core.enums import Role, Tier
from core.errors import BadUserInput, Forbidden, NotFound
from db.models import AuditLog as AuditLogRow
from db.models import User as UserRow
from db.repositories import audit, users
from db.repositories.audit import AuditAction
from resolvers import audit as audit_trail
from resolvers.context import Info
from resolvers.pagination import Page, build_page, page_size

USERS_CURSOR = "users"
AUDIT_CURSOR = "audit"
ChangeFn = Callable[[Principal, UserRow], dict[str, object]]


async def list_users(info: Info, first: int, after: str | None) -> Page[UserRow]:
    limit = page_size(first)
    codec = info.context.app.cursors
    after_username = str(codec.decode(USERS_CURSOR, after)[0]) if after else None
    async with info.context.stores.database.read() as session:
        rows, total = await users.list_users(
            session, after_username=after_username, limit=limit + 1
        )
    return build_page(
        rows,
        first=limit,
        total_count=total,
        has_previous_page=after is not None,
        cursor_of=lambda row: codec.encode(USERS_CURSOR, [row.username]),
    )


async def _change_user(
    info: Info,
    user_id: uuid.UUID,
    action: AuditAction,
    change: ChangeFn,
) -> UserRow:
    """Load, authorise and change a user in one transaction, audit it, and end its tokens.

    The user's existing access tokens are cut off, because they carry the old roles, tier
    or an active account; its refresh tokens then issue tokens with the new claims.
    """
    context = info.context
    principal = await context.require_principal()
    async with context.stores.database.session() as session:
        user = await users.get_user(session, user_id)
        if user is None:
            raise NotFound("no such user", id=str(user_id))
        details = change(principal, user)
        user = await users.save_user(session, user)
        await audit_trail.record_in(
            session, context, action, user.id, {"by": principal.user_id, **details}
        )
    await context.stores.tokens.revoke_user_before(
        str(user.id), context.app.clock.time(), context.settings.access_token_ttl_seconds
    )
    return user


def _require_may_touch(principal: Principal, user: UserRow) -> None:
    held = {Role(role) for role in user.roles}
    if held & PRIVILEGED_ROLES and not principal.has(Permission.ROLES_GRANT_ADMIN):
        raise Forbidden("only a super admin may change an admin's account")


async def update_user_roles(info: Info, user_id: uuid.UUID, roles: list[Role]) -> UserRow:
    wanted = set(roles)
    if not wanted:
        raise BadUserInput("a user needs at least one role", field="roles")

    def change(principal: Principal, user: UserRow) -> dict[str, object]:
        current = {Role(role) for role in user.roles}
        if not principal.may_change_roles(current, wanted):
            raise Forbidden("only a super admin may grant or revoke ADMIN or SUPER_ADMIN")
        user.roles = sorted(role.value for role in wanted)
        return {"before": sorted(r.value for r in current), "after": user.roles}

    return await _change_user(info, user_id, AuditAction.ROLES_CHANGED, change)


async def set_user_tier(info: Info, user_id: uuid.UUID, tier: Tier) -> UserRow:
    def change(principal: Principal, user: UserRow) -> dict[str, object]:
        _require_may_touch(principal, user)
        before, user.tier = user.tier, tier.value
        return {"before": before, "after": tier.value}

    return await _change_user(info, user_id, AuditAction.TIER_CHANGED, change)


async def deactivate_user(info: Info, user_id: uuid.UUID) -> UserRow:
    def change(principal: Principal, user: UserRow) -> dict[str, object]:
        if str(user.id) == principal.user_id:
            raise BadUserInput("you cannot deactivate your own account", field="userId")
        _require_may_touch(principal, user)
        user.is_active = False
        return {}

    return await _change_user(info, user_id, AuditAction.USER_DEACTIVATED, change)


async def audit_log(
    info: Info,
    user_id: uuid.UUID | None,
    action: str | None,
    first: int,
    after: str | None,
) -> Page[AuditLogRow]:
    limit = page_size(first)
    try:
        wanted_action = AuditAction(action) if action is not None else None
    except ValueError:
        known = ", ".join(a.value for a in AuditAction)
        raise BadUserInput(f"unknown action; one of: {known}", field="action") from None
    codec = info.context.app.cursors
    key: tuple[datetime, uuid.UUID] | None = None
    if after:
        created_at, entry_id = codec.decode(AUDIT_CURSOR, after)
        key = (datetime.fromisoformat(created_at), uuid.UUID(entry_id))
    async with info.context.stores.database.read() as session:
        rows, total = await audit.list_entries(
            session, user_id=user_id, action=wanted_action, after=key, limit=limit + 1
        )
    return build_page(
        rows,
        first=limit,
        total_count=total,
        has_previous_page=after is not None,
        cursor_of=lambda row: codec.encode(AUDIT_CURSOR, [row.created_at.isoformat(), str(row.id)]),
    )
