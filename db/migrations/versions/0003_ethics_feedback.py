"""ethics feedback: owners' marks on past decisions, and each agent's active marks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 10:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ethics_feedback",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.alter_column("ethics_feedback", server_default=None)
    op.create_table(
        "ethics_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_ethics_feedback_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["consciousness_sessions.id"],
            name=op.f("fk_ethics_feedback_session_id_consciousness_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ethics_feedback_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ethics_feedback")),
    )
    with op.batch_alter_table("ethics_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ethics_feedback_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ethics_feedback_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ethics_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ethics_feedback_session_id"))
        batch_op.drop_index(batch_op.f("ix_ethics_feedback_agent_id"))
    op.drop_table("ethics_feedback")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("ethics_feedback")
