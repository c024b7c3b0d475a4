"""The outbox takes bundles: a batch's events of one topic in one row (shared.outbox.outbox_bundle), marked
by their `records` count, with the NIKs of its records in `niks` (the emergency path's check for a person's
waiting events reads those). A bulk decision wrote an outbox row and the relay deleted it, per decision; now
one of each per batch and topic. No row has a key of its own any more: its index goes. A bundle's payload
(about 350 kB for 500 decisions) and NIKs are TOASTed: lz4 compresses them as well as the default pglz at a
third of its CPU (1.4 against 3.4 ms of PostgreSQL per 500-decision bundle; PostgreSQL 14+ built with lz4,
as the postgres images are).

Revision ID: 0008_outbox_bundles
Revises: 0007_privacy_erasures
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_outbox_bundles"
down_revision = "0007_privacy_erasures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("records", sa.Integer(), nullable=True), schema="eligibility")
    op.add_column("outbox", sa.Column("niks", sa.ARRAY(sa.String()), nullable=True), schema="eligibility")
    op.drop_index("ix_eligibility_outbox_key", table_name="outbox", schema="eligibility")
    op.execute(
        "alter table eligibility.outbox alter column payload set compression lz4, alter column niks set compression lz4"
    )


def downgrade() -> None:
    # A bundle still waiting would be published as one garbled record by the older relay: refused.
    op.execute(
        "do $$ begin if exists (select from eligibility.outbox where records is not null) then "
        "raise exception 'bundles still wait in eligibility.outbox: let the relay publish them first'; "
        "end if; end $$"
    )
    op.execute("alter table eligibility.outbox alter column payload set compression default")
    op.create_index("ix_eligibility_outbox_key", "outbox", ["key"], schema="eligibility")
    op.drop_column("outbox", "niks", schema="eligibility")
    op.drop_column("outbox", "records", schema="eligibility")
