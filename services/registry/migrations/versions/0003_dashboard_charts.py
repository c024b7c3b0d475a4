"""Dashboard charts over time: when each message was sent, delivered or failed (the registry's mirror of
the notifier's updates had only the latest state), and indexes for the charts' time ranges.

Revision ID: 0003_dashboard_charts
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_dashboard_charts"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("sent_at", "delivered_at", "failed_at", "updated_at")


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("notifications", sa.Column(column, sa.DateTime(timezone=True)), schema="registry")
    op.create_index("ix_registry_notifications_updated", "notifications", ["updated_at"], schema="registry")
    op.create_index("ix_registry_requests_decided", "requests", ["decided_at"], schema="registry")


def downgrade() -> None:
    op.drop_index("ix_registry_requests_decided", table_name="requests", schema="registry")
    op.drop_index("ix_registry_notifications_updated", table_name="notifications", schema="registry")
    for column in COLUMNS:
        op.drop_column("notifications", column, schema="registry")
