"""Root fields of the caller's own data: export it, or erase the account (GDPR)."""

from __future__ import annotations

import strawberry

from resolvers import privacy
from resolvers.context import Info
from schema.permissions import requires
from schema.types.privacy import PersonalDataExport


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Everything about you: your rows, and a download of your metrics.",
        extensions=requires(),
    )
    async def export_my_data(self, info: Info) -> PersonalDataExport:
        return PersonalDataExport.from_record(await privacy.export_my_data(info))

    @strawberry.mutation(
        description="Erase your account for good: your user, agents, versions, sessions, "
        "audit rows, metrics and tokens. Needs confirm: true and your password.",
        extensions=requires(),
    )
    async def delete_my_account(self, info: Info, confirm: bool, password: str) -> bool:
        return await privacy.delete_my_account(info, confirm, password)
