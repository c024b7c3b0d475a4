"""Appeals of rejections: one row per appeal (one per rejected request), the open ones indexed by NIK.

Revision ID: 0006_appeals
Revises: 0005_outbox_id_index_dropped
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_appeals"
down_revision = "0005_outbox_id_index_dropped"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("appeal_id"),
        sa.UniqueConstraint("request_id"),
        schema="eligibility",
    )
    op.create_index(
        "ix_eligibility_appeals_open_nik",
        "appeals",
        ["nik"],
        unique=False,
        schema="eligibility",
        postgresql_where=sa.text("status = 'OPEN'"),
    )


def downgrade() -> None:
    op.drop_index("ix_eligibility_appeals_open_nik", table_name="appeals", schema="eligibility")
    op.drop_table("appeals", schema="eligibility")
