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
    op.create_index("ix_eligibility_outbox_key", "outbox", ["key"], schema="eligibility")


def downgrade() -> None:
    op.drop_index("ix_eligibility_outbox_key", table_name="outbox", schema="eligibility")
