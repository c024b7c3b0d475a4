"""The outbox takes bundles: a batch's status changes in one row (shared.outbox.outbox_bundle), marked by
their `records` count (NULL on a row of one event). A wave's deactivation wrote an outbox row and the relay
deleted it, per event; now one of each per batch.

Revision ID: 0008_outbox_bundles
Revises: 0007_dedup_by_effect
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_outbox_bundles"
down_revision = "0007_dedup_by_effect"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("records", sa.Integer(), nullable=True), schema="registry")


def downgrade() -> None:
    # A bundle still waiting would be published as one garbled record by the older relay: refused.
    op.execute(
        "do $$ begin if exists (select from registry.outbox where records is not null) then "
        "raise exception 'bundles still wait in registry.outbox: let the relay publish them first'; "
        "end if; end $$"
    )
    op.drop_column("outbox", "records", schema="registry")
