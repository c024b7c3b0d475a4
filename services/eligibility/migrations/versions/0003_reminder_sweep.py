"""Reminders are swept from facts.next_reminder_at instead of a timer row per person and reminder;
facts.reactivated_at tells a repeated deactivation from a new one.

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
    op.add_column("facts", sa.Column("reactivated_at", sa.DateTime(timezone=True)), schema="eligibility")
    op.add_column("facts", sa.Column("next_reminder_at", sa.DateTime(timezone=True)), schema="eligibility")
    op.create_index(
        "ix_eligibility_facts_next_reminder",
        "facts",
        ["next_reminder_at"],
        schema="eligibility",
        postgresql_where=sa.text("next_reminder_at IS NOT NULL"),
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
    op.drop_index("ix_eligibility_facts_next_reminder", table_name="facts", schema="eligibility")
    op.drop_column("facts", "next_reminder_at", schema="eligibility")
    op.drop_column("facts", "reactivated_at", schema="eligibility")
