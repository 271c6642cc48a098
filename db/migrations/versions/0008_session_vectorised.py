"""consciousness_sessions.vectorised: the vector writer's queue of sessions to embed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 14:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consciousness_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vectorised", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_sessions_unvectorised",
            ["created_at"],
            postgresql_where=sa.text("NOT vectorised"),
            sqlite_where=sa.text("NOT vectorised"),
        )


def downgrade() -> None:
    with op.batch_alter_table("consciousness_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_unvectorised")
        batch_op.drop_column("vectorised")
