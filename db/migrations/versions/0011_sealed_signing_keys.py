"""alert_rules, report_schedules: the webhook signing secret stored sealed, with its key id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 19:20:00.000000

The `secret` columns become binary. Rows already there keep their secret as UTF-8 bytes with
no key id, and are read as such until `consciousness rotate-data-key` seals them
(db/repositories/signing_keys.py).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("alert_rules", "report_schedules")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "secret_key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True
                )
            )
            if not postgres:  # SQLite copies the table; the values are cast below
                batch_op.alter_column("secret", type_=sa.LargeBinary())
        if postgres:
            op.execute(
                f"ALTER TABLE {table} "
                "ALTER COLUMN secret TYPE BYTEA USING convert_to(secret, 'UTF8')"
            )
        else:
            op.execute(f"UPDATE {table} SET secret = CAST(secret AS BLOB)")  # noqa: S608


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        count = f"SELECT count(*) FROM {table} WHERE secret_key_id IS NOT NULL"  # noqa: S608
        if bind.execute(sa.text(count)).scalar_one():
            raise RuntimeError(f"{table} holds sealed secrets: they cannot go back to plaintext")
    for table in TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(
                f"ALTER TABLE {table} "
                "ALTER COLUMN secret TYPE VARCHAR(128) USING convert_from(secret, 'UTF8')"
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            if bind.dialect.name != "postgresql":
                batch_op.alter_column("secret", type_=sqlmodel.sql.sqltypes.AutoString(length=128))
            batch_op.drop_column("secret_key_id")
        if bind.dialect.name != "postgresql":
            op.execute(f"UPDATE {table} SET secret = CAST(secret AS TEXT)")  # noqa: S608
