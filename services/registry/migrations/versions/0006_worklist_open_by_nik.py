"""The worklist's open items by person: a batch of facts (biometric recordings, re-rankings, ID Semesta)
closes the items it satisfies by NIK and kind (services/registry/worklist.py close_satisfied) without
reading every open item of the kind.

Revision ID: 0006_worklist_open_by_nik
Revises: 0005_privacy_erasures_reads
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_worklist_open_by_nik"
down_revision = "0005_privacy_erasures_reads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_registry_worklist_open_nik",
        "worklist_items",
        ["nik", "kind"],
        schema="registry",
        postgresql_where=sa.text("state = 'OPEN'"),
    )


def downgrade() -> None:
    op.drop_index("ix_registry_worklist_open_nik", table_name="worklist_items", schema="registry")
