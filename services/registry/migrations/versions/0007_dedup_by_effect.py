"""Exactly once at the effect: deactivations, facts and decisions are de-duplicated by their own history
row or anomaly (one per event and NIK), so only the events without such a row keep a claim, in
`registry.inbox` (the former processed_events). `registry.processed_events` is now a view of every event
applied, whichever row remembers it (services/registry/uow.py).

Revision ID: 0007_dedup_by_effect
Revises: 0006_worklist_open_by_nik
"""

from alembic import op

revision = "0007_dedup_by_effect"
down_revision = "0006_worklist_open_by_nik"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("processed_events", "inbox", schema="registry")
    op.execute("alter index registry.processed_events_pkey rename to inbox_pkey")
    # An anomaly is recorded once per event and NIK, however often the event comes.
    op.create_unique_constraint("anomalies_event_id_nik_key", "anomalies", ["event_id", "nik"], schema="registry")
    op.execute(
        "create view registry.processed_events as select event_id from registry.inbox "
        "union select event_id from registry.history union select event_id from registry.anomalies"
    )


def downgrade() -> None:
    op.execute("drop view registry.processed_events")
    op.drop_constraint("anomalies_event_id_nik_key", "anomalies", schema="registry")
    op.execute("alter index registry.inbox_pkey rename to processed_events_pkey")
    op.rename_table("inbox", "processed_events", schema="registry")
    # The events applied meanwhile without a claim: claimed, so a redelivery stays a duplicate.
    op.execute(
        "insert into registry.processed_events (event_id) select event_id from registry.history "
        "union select event_id from registry.anomalies on conflict do nothing"
    )
