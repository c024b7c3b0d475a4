"""Citizens' commands (CEK, BERHENTI/STOP, MULAI, BANDING): standings (what CEK answers, folded from the
events the notifier consumes), opt-outs by number (also for a number no contact names yet), inbound
messages seen once (the provider's id), an outbox (BANDING travels on as AppealRequested); a general
answer is a message to a number with no NIK.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "standings",
        sa.Column("nik", sa.String(length=16), primary_key=True),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("deactivation_reason", sa.String(), nullable=True),
        sa.Column("window_closes_at", TZ, nullable=True),
        sa.Column("reasons", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("follow_ups", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("biometric_recorded", sa.Boolean(), nullable=False),
        sa.Column("nik_conflict_resolved", sa.Boolean(), nullable=False),
        sa.Column("id_semesta", sa.Boolean(), nullable=False),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("desil", sa.SmallInteger(), nullable=True),
        sa.Column("desil_on", sa.Date(), nullable=True),
        sa.Column("request_open", sa.Boolean(), nullable=False),
        sa.Column("last_status_at", TZ, nullable=True),
        schema="notifier",
    )
    op.create_table(
        "opt_outs",
        sa.Column("phone", sa.String(), primary_key=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
        schema="notifier",
    )
    op.create_table(
        "inbound_messages",
        sa.Column("inbound_id", sa.String(length=128), primary_key=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        schema="notifier",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        schema="notifier",
    )
    op.alter_column("messages", "nik", nullable=True, existing_type=sa.String(length=16), schema="notifier")


def downgrade() -> None:
    op.execute("DELETE FROM notifier.messages WHERE nik IS NULL")
    op.alter_column("messages", "nik", nullable=False, existing_type=sa.String(length=16), schema="notifier")
    for table in ("outbox", "inbound_messages", "opt_outs", "standings"):
        op.drop_table(table, schema="notifier")
