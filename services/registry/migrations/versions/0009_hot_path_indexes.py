"""Fewer indexes on the tables every deactivation and decision writes: each index is one more entry per
row inserted, and per row updated (a decision's status change is never a HOT update: the window sweep's
partial index names `status`). Dropped, as no query reads through them:
- participants by status and by region: only whole-table counts (stats, dashboard) group by those
  columns, which read every row anyway;
- worklist items by request: items are found by their id, derived from request and kind.
The SLA board's index holds only emergencies (regular requests, nearly all of them, no longer enter it),
in the order the board shows them (deadline first).

Revision ID: 0009_hot_path_indexes
Revises: 0008_outbox_bundles
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_hot_path_indexes"
down_revision = "0008_outbox_bundles"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.drop_index("ix_registry_participants_status", table_name="participants", schema=SCHEMA)
    op.drop_index("ix_registry_participants_region", table_name="participants", schema=SCHEMA)
    op.drop_index("ix_registry_worklist_request", table_name="worklist_items", schema=SCHEMA)
    op.drop_index("ix_registry_requests_sla", table_name="requests", schema=SCHEMA)
    op.create_index(
        "ix_registry_requests_emergency",
        "requests",
        ["sla_deadline"],
        schema=SCHEMA,
        postgresql_where=sa.text("path = 'EMERGENCY'"),
    )


def downgrade() -> None:
    op.drop_index("ix_registry_requests_emergency", table_name="requests", schema=SCHEMA)
    op.create_index("ix_registry_requests_sla", "requests", ["path", "sla_state"], schema=SCHEMA)
    op.create_index("ix_registry_worklist_request", "worklist_items", ["request_id"], schema=SCHEMA)
    op.create_index(
        "ix_registry_participants_region", "participants", ["province", "regency", "district"], schema=SCHEMA
    )
    op.create_index("ix_registry_participants_status", "participants", ["status"], schema=SCHEMA)
