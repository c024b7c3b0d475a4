"""Initial notifier schema: contacts, messages, processed events.

Frozen as it was created when the service was introduced (commit f08a9d5); later revisions bring it to today's models.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("nik"),
        schema="notifier",
    )
    op.create_index("ix_notifier_contacts_phone", "contacts", ["phone"], unique=False, schema="notifier")
    op.create_table(
        "messages",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
        schema="notifier",
    )
    op.create_index("ix_notifier_messages_due", "messages", ["state", "send_after"], unique=False, schema="notifier")
    op.create_index(
        "ix_notifier_messages_provider", "messages", ["provider_message_id"], unique=False, schema="notifier"
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="notifier",
    )


def downgrade() -> None:
    op.drop_table("processed_events", schema="notifier")
    op.drop_index("ix_notifier_messages_provider", table_name="messages", schema="notifier")
    op.drop_index("ix_notifier_messages_due", table_name="messages", schema="notifier")
    op.drop_table("messages", schema="notifier")
    op.drop_index("ix_notifier_contacts_phone", table_name="contacts", schema="notifier")
    op.drop_table("contacts", schema="notifier")
