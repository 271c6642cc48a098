"""metrics_outbox: metrics rows committed with their session until ClickHouse has them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_metrics_outbox_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_metrics_outbox_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics_outbox")),
    )
    with op.batch_alter_table("metrics_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metrics_outbox_agent_id"), ["agent_id"])
        batch_op.create_index(batch_op.f("ix_metrics_outbox_user_id"), ["user_id"])


def downgrade() -> None:
    op.drop_table("metrics_outbox")
