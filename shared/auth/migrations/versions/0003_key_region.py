"""The region a key is bound to: a Dinsos office's worklist key sees its own province or regency.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("province", sa.String(2)), schema="auth")
    op.add_column("api_keys", sa.Column("regency", sa.String(4)), schema="auth")


def downgrade() -> None:
    op.drop_column("api_keys", "regency", schema="auth")
    op.drop_column("api_keys", "province", schema="auth")
