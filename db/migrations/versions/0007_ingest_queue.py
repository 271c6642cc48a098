"""ingest_queue: acknowledged OTLP GenAI calls waiting for analysis, sealed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("spans", sa.Integer(), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ingest_queue_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_queue")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_ingest_queue_batch_id")),
    )
    with op.batch_alter_table("ingest_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_queue_user_id"), ["user_id"])


def downgrade() -> None:
    op.drop_table("ingest_queue")
