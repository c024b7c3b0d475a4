"""The queue's index orders messages the way the sender claims them (issue 20).

`ix_notifier_messages_due` was (state, send_after): the claim's ORDER BY urgent DESC, send_after had to
read and sort every due message at every claim, 205 ms a claim with a 100,000-person wave's notices
queued (pg_stat_statements during `make bench`: a quarter of PostgreSQL's statement time), while an
emergency's message waited behind it. Now (state, urgent, send_after), still only the messages on their
way: the sender claims urgent messages, then the others, each by a range scan in the index's order
(services/notifier/sender.py, claim_due). Every other lookup of the index names a state, its first column.

Revision ID: 0010_due_index_by_urgency
Revises: 0009_hot_contacts_lean_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_due_index_by_urgency"
down_revision = "0009_hot_contacts_lean_indexes"
branch_labels = None
depends_on = None

ON_THEIR_WAY = sa.text("state in ('QUEUED', 'SENDING', 'WAITING')")


def _due_index(columns: list[str]) -> None:
    op.drop_index("ix_notifier_messages_due", table_name="messages", schema="notifier")
    op.create_index("ix_notifier_messages_due", "messages", columns, schema="notifier", postgresql_where=ON_THEIR_WAY)


def upgrade() -> None:
    _due_index(["state", "urgent", "send_after"])


def downgrade() -> None:
    _due_index(["state", "send_after"])
