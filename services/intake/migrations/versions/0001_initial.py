"""Initial intake schema: facilities, idempotency keys, request read model, import ledger.

Frozen as it was created when the service was introduced (commit da208f5); later revisions bring it to today's models.

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
        "facilities",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
        schema="intake",
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("principal", sa.String(length=32), nullable=False),
        sa.Column("body_hash", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "principal"),
        schema="intake",
    )
    op.create_table(
        "import_ledger",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="intake",
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="intake",
    )
    op.create_table(
        "requests",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("facility_code", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_state", sa.String(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
        schema="intake",
    )
    op.create_index("ix_intake_requests_facility", "requests", ["facility_code"], unique=False, schema="intake")


def downgrade() -> None:
    op.drop_index("ix_intake_requests_facility", table_name="requests", schema="intake")
    op.drop_table("requests", schema="intake")
    op.drop_table("processed_events", schema="intake")
    op.drop_table("import_ledger", schema="intake")
    op.drop_table("idempotency_keys", schema="intake")
    op.drop_table("facilities", schema="intake")
