"""Personal data (UU PDP): erasure markers per NIK, and the log of participant-record reads.

Revision ID: 0005_privacy_erasures_reads
Revises: 0004_outbox_id_index_dropped
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_privacy_erasures_reads"
down_revision = "0004_outbox_id_index_dropped"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nik"),
        schema=SCHEMA,
    )
    op.create_table(
        "participant_reads",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("view", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.create_index("ix_registry_participant_reads_nik", "participant_reads", ["nik", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_registry_participant_reads_nik", table_name="participant_reads", schema=SCHEMA)
    op.drop_table("participant_reads", schema=SCHEMA)
    op.drop_table("erasures", schema=SCHEMA)
