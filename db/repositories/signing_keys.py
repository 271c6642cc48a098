"""The webhook signing secrets of alert rules and report schedules, sealed at rest.

A secret signs webhook bodies, so the server must read it back (it cannot be hashed like an
API key): it is sealed under the current data key (db/crypto.py), bound to its table and
row, with the key's id in `secret_key_id`. Rows written before migration 0011 hold it as
UTF-8 bytes with no key id; they are read as such until `consciousness rotate-data-key`
seals them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.crypto import DataKeyError, Keyring
from db.models import AlertRule, ReportSchedule

SigningRow = AlertRule | ReportSchedule


def seal_secret(keyring: Keyring, row: SigningRow, secret: str) -> None:
    """Set `row`'s secret, sealed under the current key (the row's id must be set)."""
    row.secret, row.secret_key_id = _sealed(keyring, row, secret)


def _sealed(keyring: Keyring, row: SigningRow, secret: str) -> tuple[bytes, str]:
    return keyring.seal(secret.encode(), _bound(row)), keyring.current_id


def open_secret(keyring: Keyring, row: SigningRow) -> str:
    """`row`'s secret; DataKeyError naming the row when it does not open (db/crypto.py)."""
    if row.secret_key_id is None:  # written before migration 0011
        return bytes(row.secret).decode()
    try:
        return keyring.open(row.secret_key_id, bytes(row.secret), _bound(row)).decode()
    except DataKeyError as exc:
        raise DataKeyError(f"{row.__tablename__} {row.id}, secret: {exc}") from None


def _bound(row: SigningRow) -> bytes:
    return f"{row.__tablename__}:{row.id}:secret".encode()


class SigningKeyRows:
    """One table's secrets for `consciousness rotate-data-key` (server/cli_data.py)."""

    def __init__(self, model: type[AlertRule] | type[ReportSchedule]) -> None:
        self.model = model
        self.table: Table = SQLModel.metadata.tables[str(model.__tablename__)]
        self._reseal = (
            update(self.table)
            .where(
                self.table.c.id == bindparam("row_id"),
                self.table.c.secret_key_id.is_not_distinct_from(bindparam("old_key_id")),
            )
            .values(secret=bindparam("new_secret"), secret_key_id=bindparam("new_key_id"))
        )

    def _not_current(self, keyring: Keyring) -> Any:
        key_id = self.table.c.secret_key_id
        return or_(key_id.is_(None), key_id != keyring.current_id)

    async def count_to_rotate(self, session: AsyncSession, keyring: Keyring) -> int:
        """How many rows' secrets are not sealed under the current key."""
        statement = select(func.count()).select_from(self.table).where(self._not_current(keyring))
        return int((await session.exec(statement)).one()[0])  # type: ignore[call-overload]

    async def rotate_batch(self, session: AsyncSession, keyring: Keyring, limit: int) -> int:
        """Re-seal up to `limit` secrets under the current key; how many. Each row is written
        only if its key id is still the one read (as session_texts.rotate_batch)."""
        statement = (
            select(self.model)
            .where(self._not_current(keyring))
            .order_by(self.table.c.id)
            .limit(limit)
        )
        rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
        for (row,) in rows:  # the rows stay untouched: only the compare-and-set writes
            secret, key_id = _sealed(keyring, row, open_secret(keyring, row))
            params = {"row_id": row.id, "old_key_id": row.secret_key_id}
            params |= {"new_secret": secret, "new_key_id": key_id}
            await session.exec(self._reseal, params=params)
        return len(rows)
