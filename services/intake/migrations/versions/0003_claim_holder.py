"""Idempotency-Key claims name the process holding them (its instance token, shared.tx_lease), so that a retry
can take over at once a claim whose process died, instead of waiting for the claim to go stale.

Revision ID: 0003_claim_holder
Revises: 0002_appeals
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_claim_holder"
down_revision = "0002_appeals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("holder", sa.BigInteger(), nullable=True), schema="intake")


def downgrade() -> None:
    op.drop_column("idempotency_keys", "holder", schema="intake")
