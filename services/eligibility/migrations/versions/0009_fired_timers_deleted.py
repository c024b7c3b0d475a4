"""A timer's row is deleted when it fires (in the transaction of what it publishes), no longer kept marked
`fired_at`: the table holds only the timers still to fire, so the rows fired so far go and the column with
them. The unique key leads with the subject (request id), so a final decision's delete of its request's
timers (`stop_timers`) reads that index instead of scanning the table.

Revision ID: 0009_fired_timers_deleted
Revises: 0008_outbox_bundles
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_fired_timers_deleted"
down_revision = "0008_outbox_bundles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM eligibility.timers WHERE fired_at IS NOT NULL")
    op.drop_column("timers", "fired_at", schema="eligibility")
    op.drop_constraint("timers_kind_subject_due_at_key", "timers", schema="eligibility", type_="unique")
    op.create_unique_constraint(
        "uq_eligibility_timers_subject", "timers", ["subject", "kind", "due_at"], schema="eligibility"
    )


def downgrade() -> None:
    op.drop_constraint("uq_eligibility_timers_subject", "timers", schema="eligibility", type_="unique")
    op.create_unique_constraint(
        "timers_kind_subject_due_at_key", "timers", ["kind", "subject", "due_at"], schema="eligibility"
    )
    op.add_column("timers", sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True), schema="eligibility")
