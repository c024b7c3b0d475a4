"""messages.correlation_id: the id of the request that caused the message, for logs and outgoing headers.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("correlation_id", sa.String(64)), schema="notifier")


def downgrade() -> None:
    op.drop_column("messages", "correlation_id", schema="notifier")
