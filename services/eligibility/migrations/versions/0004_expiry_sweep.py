"""Pending requests expire by a sweep over requests.window_closes_at instead of an EXPIRE timer row each.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has all of this.
    op.execute("ALTER TABLE eligibility.requests ADD COLUMN IF NOT EXISTS window_closes_at timestamptz")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_eligibility_requests_pending_close ON eligibility.requests (window_closes_at) "
        "WHERE outcome = 'PENDING'"
    )
    # Each pending request's close moves from its EXPIRE timer onto its row.
    op.execute(
        "UPDATE eligibility.requests r SET window_closes_at = t.due FROM ("
        "  SELECT subject, min(due_at) AS due FROM eligibility.timers"
        "  WHERE kind = 'EXPIRE' AND fired_at IS NULL GROUP BY subject"
        ") t WHERE r.request_id::text = t.subject AND r.window_closes_at IS NULL"
    )
    op.execute("DELETE FROM eligibility.timers WHERE kind = 'EXPIRE'")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS eligibility.ix_eligibility_requests_pending_close")
    op.execute("ALTER TABLE eligibility.requests DROP COLUMN IF EXISTS window_closes_at")
