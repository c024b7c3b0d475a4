"""Exactly once at the effect: a deactivation with a message and an SLA change that escalates are
de-duplicated by their message's id (derived from the event), so only the other consumed events keep a
claim, in `notifier.inbox` (the former processed_events). `messages.event_id` names the event a message
came from; `notifier.processed_events` is now a view of every event applied, whichever row remembers it.

Revision ID: 0007_dedup_by_effect
Revises: 0006_standings_request_ids
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_dedup_by_effect"
down_revision = "0006_standings_request_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("processed_events", "inbox", schema="notifier")
    op.execute("alter index notifier.processed_events_pkey rename to inbox_pkey")
    op.add_column("messages", sa.Column("event_id", sa.Uuid(), nullable=True), schema="notifier")
    op.execute(
        "create view notifier.processed_events as select event_id from notifier.inbox "
        "union select event_id from notifier.messages where event_id is not null"
    )


def downgrade() -> None:
    op.execute("drop view notifier.processed_events")
    # Messages' events go back to being claims, so that none of them is applied again.
    op.execute(
        "insert into notifier.inbox (event_id) select distinct event_id from notifier.messages "
        "where event_id is not null on conflict do nothing"
    )
    op.drop_column("messages", "event_id", schema="notifier")
    op.execute("alter index notifier.inbox_pkey rename to processed_events_pkey")
    op.rename_table("inbox", "processed_events", schema="notifier")
