"""Initial eligibility schema: facts, requests, processed events, timers, outbox.

Frozen as it was created when the service was introduced (commit 0d386a6); later revisions bring it to today's models.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facts",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("desil", sa.Integer(), nullable=True),
        sa.Column("desil_effective_on", sa.Date(), nullable=True),
        sa.Column("biometric_recorded", sa.Boolean(), nullable=False),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("nik_conflict_open", sa.Boolean(), nullable=False),
        sa.Column("id_semesta", sa.String(), nullable=True),
        sa.Column("reactivated", sa.Boolean(), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("nik"),
        schema="eligibility",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        schema="eligibility",
    )
    op.create_index("ix_eligibility_outbox_id", "outbox", ["id"], unique=False, schema="eligibility")
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="eligibility",
    )
    op.create_table(
        "requests",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
        schema="eligibility",
    )
    op.create_index("ix_eligibility_requests_nik", "requests", ["nik"], unique=False, schema="eligibility")
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "due_at"),
        schema="eligibility",
    )
    op.create_index("ix_eligibility_timers_due", "timers", ["due_at"], unique=False, schema="eligibility")


def downgrade() -> None:
    op.drop_index("ix_eligibility_timers_due", table_name="timers", schema="eligibility")
    op.drop_table("timers", schema="eligibility")
    op.drop_index("ix_eligibility_requests_nik", table_name="requests", schema="eligibility")
    op.drop_table("requests", schema="eligibility")
    op.drop_table("processed_events", schema="eligibility")
    op.drop_index("ix_eligibility_outbox_id", table_name="outbox", schema="eligibility")
    op.drop_table("outbox", schema="eligibility")
    op.drop_table("facts", schema="eligibility")
