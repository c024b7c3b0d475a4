"""Window-close sweep and worklist: the sweep's partial index on window_closes_at (people still out),
a partial index to count expiries at window close, and the worklist items table.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.create_index(
        "ix_registry_participants_window_open",
        "participants",
        ["window_closes_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status in ('INACTIVE', 'REACTIVATION_PENDING')"),
    )
    op.create_index(
        "ix_registry_history_window_closed",
        "history",
        ["event_type"],
        schema=SCHEMA,
        postgresql_where=sa.text("event_type = 'registry.window_closed'"),
    )
    op.create_table(
        "worklist_items",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("province", sa.String(), nullable=False),
        sa.Column("regency", sa.String(), nullable=False),
        sa.Column("district", sa.String(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("item_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_registry_worklist_open", "worklist_items", ["state", "kind", "due_at"], schema=SCHEMA)
    op.create_index("ix_registry_worklist_region", "worklist_items", ["province", "regency", "district"], schema=SCHEMA)
    op.create_index("ix_registry_worklist_request", "worklist_items", ["request_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("worklist_items", schema=SCHEMA)
    op.drop_index("ix_registry_history_window_closed", table_name="history", schema=SCHEMA)
    op.drop_index("ix_registry_participants_window_open", table_name="participants", schema=SCHEMA)
