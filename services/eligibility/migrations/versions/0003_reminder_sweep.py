"""Reminders are swept from facts.next_reminder_at instead of a timer row per person and reminder;
facts.reactivated_at tells a repeated deactivation from a new one.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has all of this.
    op.execute("ALTER TABLE eligibility.facts ADD COLUMN IF NOT EXISTS reactivated_at timestamptz")
    op.execute("ALTER TABLE eligibility.facts ADD COLUMN IF NOT EXISTS next_reminder_at timestamptz")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_eligibility_facts_next_reminder ON eligibility.facts (next_reminder_at) "
        "WHERE next_reminder_at IS NOT NULL"
    )
    # The reminders still to come move onto the facts rows (the sweep states the days really left).
    op.execute(
        "UPDATE eligibility.facts f SET next_reminder_at = t.due FROM ("
        "  SELECT nik, min(due_at) AS due FROM eligibility.timers"
        "  WHERE kind = 'REMINDER' AND fired_at IS NULL GROUP BY nik"
        ") t WHERE f.nik = t.nik AND NOT f.reactivated AND NOT f.deceased"
    )
    op.execute("DELETE FROM eligibility.timers WHERE kind = 'REMINDER'")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS eligibility.ix_eligibility_facts_next_reminder")
    op.execute("ALTER TABLE eligibility.facts DROP COLUMN IF EXISTS next_reminder_at")
    op.execute("ALTER TABLE eligibility.facts DROP COLUMN IF EXISTS reactivated_at")
