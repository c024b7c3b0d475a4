"""Initial registry schema: participants, history, processed events, anomalies, requests, notifications, outbox.

Frozen as it was created when the service was introduced (commit d3d3bd4); later revisions bring it to today's models.

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
        "anomalies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("nik", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="registry",
    )
    op.create_table(
        "history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("previous_status", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "nik"),
        schema="registry",
    )
    op.create_index("ix_registry_history_nik", "history", ["nik", "id"], unique=False, schema="registry")
    op.create_table(
        "notifications",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
        schema="registry",
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
        schema="registry",
    )
    op.create_index("ix_registry_outbox_id", "outbox", ["id"], unique=False, schema="registry")
    op.create_table(
        "participants",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("province", sa.String(), nullable=False),
        sa.Column("regency", sa.String(), nullable=False),
        sa.Column("district", sa.String(), nullable=False),
        sa.Column("deactivation_reason", sa.String(), nullable=True),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("window_closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("desil", sa.Integer(), nullable=True),
        sa.Column("biometric_recorded", sa.Boolean(), nullable=False),
        sa.Column("id_semesta", sa.String(), nullable=True),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("nik_conflict_open", sa.Boolean(), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("last_status_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nik"),
        schema="registry",
    )
    op.create_index(
        "ix_registry_participants_region",
        "participants",
        ["province", "regency", "district"],
        unique=False,
        schema="registry",
    )
    op.create_index("ix_registry_participants_status", "participants", ["status"], unique=False, schema="registry")
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="registry",
    )
    op.create_table(
        "requests",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("facility_code", sa.String(), nullable=True),
        sa.Column("province", sa.String(), nullable=False),
        sa.Column("regency", sa.String(), nullable=False),
        sa.Column("district", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_state", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
        schema="registry",
    )
    op.create_index("ix_registry_requests_sla", "requests", ["path", "sla_state"], unique=False, schema="registry")


def downgrade() -> None:
    op.drop_index("ix_registry_requests_sla", table_name="requests", schema="registry")
    op.drop_table("requests", schema="registry")
    op.drop_table("processed_events", schema="registry")
    op.drop_index("ix_registry_participants_status", table_name="participants", schema="registry")
    op.drop_index("ix_registry_participants_region", table_name="participants", schema="registry")
    op.drop_table("participants", schema="registry")
    op.drop_index("ix_registry_outbox_id", table_name="outbox", schema="registry")
    op.drop_table("outbox", schema="registry")
    op.drop_table("notifications", schema="registry")
    op.drop_index("ix_registry_history_nik", table_name="history", schema="registry")
    op.drop_table("history", schema="registry")
    op.drop_table("anomalies", schema="registry")
