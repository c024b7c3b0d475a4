"""The outbox's index on id is dropped: the primary key already orders the relay's reads (commit ea8b11f
changed the model right after 0001; this revision records it).

Revision ID: 0004_outbox_id_index_dropped
Revises: 0003_dashboard_charts
"""

from alembic import op

revision = "0004_outbox_id_index_dropped"
down_revision = "0003_dashboard_charts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database whose 0001 was built from the models after ea8b11f never had the index.
    op.drop_index("ix_registry_outbox_id", table_name="outbox", schema="registry", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_registry_outbox_id", "outbox", ["id"], schema="registry")
