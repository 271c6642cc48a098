"""consciousness_sessions: input, response and context stored encrypted, with their key id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:40:00.000000

The three columns become binary. Rows already there keep their plaintext (as UTF-8 bytes,
the context as its JSON) with no key id, and are read as such until
`consciousness rotate-data-key` encrypts them.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "consciousness_sessions"
TEXTS = ("input_text", "response_text", "context")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        if not postgres:  # SQLite copies the table; the values are cast below
            for name in TEXTS:
                batch_op.alter_column(name, type_=sa.LargeBinary())
    if postgres:
        op.execute(
            f"ALTER TABLE {TABLE} "
            "ALTER COLUMN input_text TYPE BYTEA USING convert_to(input_text, 'UTF8'), "
            "ALTER COLUMN response_text TYPE BYTEA USING convert_to(response_text, 'UTF8'), "
            "ALTER COLUMN context TYPE BYTEA USING convert_to(context::text, 'UTF8')"
        )
    else:
        casts = ", ".join(f"{name} = CAST({name} AS BLOB)" for name in TEXTS)
        op.execute(f"UPDATE {TABLE} SET {casts}")  # noqa: S608  (constant names)


def downgrade() -> None:
    bind = op.get_bind()
    count = f"SELECT count(*) FROM {TABLE} WHERE key_id IS NOT NULL"  # noqa: S608 (constants)
    sealed = bind.execute(sa.text(count))
    if sealed.scalar_one():
        raise RuntimeError(f"{TABLE} holds encrypted rows: they cannot go back to plaintext")
    if bind.dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE {TABLE} "
            "ALTER COLUMN input_text TYPE VARCHAR USING convert_from(input_text, 'UTF8'), "
            "ALTER COLUMN response_text TYPE VARCHAR USING convert_from(response_text, 'UTF8'), "
            "ALTER COLUMN context TYPE JSONB USING convert_from(context, 'UTF8')::jsonb"
        )
        op.drop_column(TABLE, "key_id")
        return
    casts = ", ".join(f"{name} = CAST({name} AS TEXT)" for name in TEXTS)
    op.execute(f"UPDATE {TABLE} SET {casts}")  # noqa: S608  (constant names)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.alter_column("input_text", type_=sqlmodel.sql.sqltypes.AutoString())
        batch_op.alter_column("response_text", type_=sqlmodel.sql.sqltypes.AutoString())
        batch_op.alter_column(
            "context", type_=sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
        )
