"""Personal data (UU PDP): erasure markers per NIK (shared.privacy).

Revision ID: 0007_privacy_erasures
Revises: 0006_appeals
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_privacy_erasures"
down_revision = "0006_appeals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nik"),
        schema="eligibility",
    )


def downgrade() -> None:
    op.drop_table("erasures", schema="eligibility")
