"""messages.correlation_id: the id of the request that caused the message, for logs and outgoing headers.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has the column.
    op.execute("ALTER TABLE notifier.messages ADD COLUMN IF NOT EXISTS correlation_id VARCHAR(64)")


def downgrade() -> None:
    op.execute("ALTER TABLE notifier.messages DROP COLUMN IF EXISTS correlation_id")
