"""Personal data (UU PDP): erasure markers per NIK, and the retention sweep's index (messages that still
have a text, by when they were last touched).

Revision ID: 0005_privacy_erasures_retention
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_privacy_erasures_retention"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nik"),
        schema="notifier",
    )
    op.create_index(
        "ix_notifier_messages_retention",
        "messages",
        ["updated_at"],
        schema="notifier",
        postgresql_where=sa.text("text <> ''"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifier_messages_retention", table_name="messages", schema="notifier")
    op.drop_table("erasures", schema="notifier")
