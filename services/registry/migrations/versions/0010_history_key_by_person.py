"""History's primary key is (nik, id): a person's history in order, which the index on (nik, id) was beside
a key on id alone that no query read. One index fewer on the table every deactivation and decision
appends to. (Rebuilding the key locks the table while it runs: on a national history, minutes; run it as
a Job before the rollout, docs/operations.md, Migrations.)

Revision ID: 0010_history_key_by_person
Revises: 0009_hot_path_indexes
"""

from alembic import op

revision = "0010_history_key_by_person"
down_revision = "0009_hot_path_indexes"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.drop_constraint("history_pkey", "history", type_="primary", schema=SCHEMA)
    op.create_primary_key("history_pkey", "history", ["nik", "id"], schema=SCHEMA)
    op.drop_index("ix_registry_history_nik", table_name="history", schema=SCHEMA)


def downgrade() -> None:
    op.create_index("ix_registry_history_nik", "history", ["nik", "id"], schema=SCHEMA)
    op.drop_constraint("history_pkey", "history", type_="primary", schema=SCHEMA)
    op.create_primary_key("history_pkey", "history", ["id"], schema=SCHEMA)
