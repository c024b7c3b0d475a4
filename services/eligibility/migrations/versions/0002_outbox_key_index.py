"""outbox.key index: the emergency lane looks up a person's waiting events in every transaction.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has the index.
    op.execute("CREATE INDEX IF NOT EXISTS ix_eligibility_outbox_key ON eligibility.outbox (key)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS eligibility.ix_eligibility_outbox_key")
