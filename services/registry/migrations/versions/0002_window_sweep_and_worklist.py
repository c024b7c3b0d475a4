"""Window-close sweep and worklist: the sweep's partial index on window_closes_at (people still out),
a partial index to count expiries at window close, and the worklist items table.

Revision ID: 0002
Revises: 0001
"""

from alembic import context, op

from services.registry.store import W

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has all of this.
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_registry_participants_window_open ON registry.participants "
        "(window_closes_at) WHERE status in ('INACTIVE', 'REACTIVATION_PENDING')"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_registry_history_window_closed ON registry.history "
        "(event_type) WHERE event_type = 'registry.window_closed'"
    )
    W.create(context.get_bind(), checkfirst=True)


def downgrade() -> None:
    W.drop(context.get_bind(), checkfirst=True)
    op.execute("DROP INDEX IF EXISTS registry.ix_registry_history_window_closed")
    op.execute("DROP INDEX IF EXISTS registry.ix_registry_participants_window_open")
