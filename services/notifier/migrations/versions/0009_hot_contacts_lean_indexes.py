"""Cheaper writes on the notifier's hot tables (issue 20).

- `contacts` pages are filled to 40% (fillfactor 40): a request and its decision each rewrite the person's
  standing, and neither changes an indexed column (nik, phone), so the new version can stay on its page as a
  HOT update, without an entry in either index. At fillfactor 100 the wave's inserts filled the pages and
  almost every update moved the row (HOT updates of 20,000 in bench.notifier_rows 10000: 268; 5,824 at 80,
  15,187 at 50, 17,163 at 40: a batch updates every person of a page). Pages written from now on are
  affected; existing ones gain room as their old versions are pruned.
- `ix_notifier_messages_provider` holds only rows with a provider id: every message was inserted with a NULL
  one, an index entry no query reads (receipts and reconcile look an id up by equality).
- `ix_notifier_messages_due` holds only the messages still on their way (QUEUED, SENDING, WAITING: what the
  sender, reconcile, the release of waiting messages and a BERHENTI look for), not the delivery history:
  a SENT, DELIVERED, READ, SKIPPED or FAILED row leaves it, so the index stays the size of the queue.

Revision ID: 0009_hot_contacts_lean_indexes
Revises: 0008_one_row_per_person
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_hot_contacts_lean_indexes"
down_revision = "0008_one_row_per_person"
branch_labels = None
depends_on = None

ON_THEIR_WAY = sa.text("state in ('QUEUED', 'SENDING', 'WAITING')")
PROVIDED = sa.text("provider_message_id is not null")


def upgrade() -> None:
    op.execute("alter table notifier.contacts set (fillfactor = 40)")
    op.drop_index("ix_notifier_messages_provider", table_name="messages", schema="notifier")
    op.create_index(
        "ix_notifier_messages_provider",
        "messages",
        ["provider_message_id"],
        schema="notifier",
        postgresql_where=PROVIDED,
    )
    op.drop_index("ix_notifier_messages_due", table_name="messages", schema="notifier")
    op.create_index(
        "ix_notifier_messages_due",
        "messages",
        ["state", "send_after"],
        schema="notifier",
        postgresql_where=ON_THEIR_WAY,
    )


def downgrade() -> None:
    op.drop_index("ix_notifier_messages_due", table_name="messages", schema="notifier")
    op.create_index("ix_notifier_messages_due", "messages", ["state", "send_after"], schema="notifier")
    op.drop_index("ix_notifier_messages_provider", table_name="messages", schema="notifier")
    op.create_index("ix_notifier_messages_provider", "messages", ["provider_message_id"], schema="notifier")
    op.execute("alter table notifier.contacts reset (fillfactor)")
