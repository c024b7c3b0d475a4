"""Pending requests expire by a sweep over requests.window_closes_at instead of an EXPIRE timer row each.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("window_closes_at", sa.DateTime(timezone=True)), schema="eligibility")
    op.create_index(
        "ix_eligibility_requests_pending_close",
        "requests",
        ["window_closes_at"],
        schema="eligibility",
        postgresql_where=sa.text("outcome = 'PENDING'"),
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
    op.drop_index("ix_eligibility_requests_pending_close", table_name="requests", schema="eligibility")
    op.drop_column("requests", "window_closes_at", schema="eligibility")
