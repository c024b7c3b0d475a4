"""standings.request_ids: a person's latest request ids, so BANDING <reference> from a phone on file for
several NIKs (a family's) is handed on only for the NIK whose request it names. NULL on older rows: none known.

Revision ID: 0006_standings_request_ids
Revises: 0005_privacy_erasures_retention
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_standings_request_ids"
down_revision = "0005_privacy_erasures_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("standings", sa.Column("request_ids", postgresql.ARRAY(sa.Text()), nullable=True), schema="notifier")


def downgrade() -> None:
    op.drop_column("standings", "request_ids", schema="notifier")
