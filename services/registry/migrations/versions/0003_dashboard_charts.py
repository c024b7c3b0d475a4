"""Dashboard charts over time: when each message was sent, delivered or failed (the registry's mirror of
the notifier's updates had only the latest state), and indexes for the charts' time ranges.

Revision ID: 0003_dashboard_charts
Revises: 0002
"""

from alembic import op

revision = "0003_dashboard_charts"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("sent_at", "delivered_at", "failed_at", "updated_at")


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has all of this.
    for column in COLUMNS:
        op.execute(f"ALTER TABLE registry.notifications ADD COLUMN IF NOT EXISTS {column} timestamptz")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_registry_notifications_updated ON registry.notifications (updated_at)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_registry_requests_decided ON registry.requests (decided_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS registry.ix_registry_requests_decided")
    op.execute("DROP INDEX IF EXISTS registry.ix_registry_notifications_updated")
    for column in COLUMNS:
        op.execute(f"ALTER TABLE registry.notifications DROP COLUMN IF EXISTS {column}")
