"""The system a key speaks for: stamped as `source` on every event the key posts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("source", sa.String(64)), schema="auth")


def downgrade() -> None:
    op.drop_column("api_keys", "source", schema="auth")
